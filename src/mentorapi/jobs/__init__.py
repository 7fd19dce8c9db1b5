"""Jobs: work too long for a request (a cohort's match run, a large event's schedule), done by
the worker, once, surviving a worker's restart."""
