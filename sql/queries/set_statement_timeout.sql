-- Limits a sql handler's statement to the attempt's timeout, for this transaction only.
select set_config('statement_timeout', $1, true)
