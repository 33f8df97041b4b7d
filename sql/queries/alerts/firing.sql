-- What fires now, for the evaluator to compare its findings with.
select id, rule, subject from pgtide.alerts
