-- Limits a sql handler's transaction, for this transaction only: each statement to the attempt's
-- timeout ($1), and idling inside the transaction to the lease ($2). A worker that stalls mid-handler
-- (SIGSTOP, a frozen VM) thus has its session ended by the server and its effect rolled back, instead
-- of holding the row's lock open after its lease expired.
select set_config('statement_timeout', $1, true),
       set_config('idle_in_transaction_session_timeout', $2, true)
