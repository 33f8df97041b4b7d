delete from pgtide.leader where name = $1 and holder = $2
