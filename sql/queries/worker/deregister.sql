delete from pgtide.workers where id = $1
