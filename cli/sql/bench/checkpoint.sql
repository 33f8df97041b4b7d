-- Then write out dirty pages, so no checkpoint starts inside a timed section either.
checkpoint
