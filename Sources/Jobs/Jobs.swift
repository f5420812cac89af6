// Jobs module: the background job queue (persisted job records, progress,
// cancel, resume after restart), built on Storage's atomic files and log.
// Where it sits and what it may import: docs/architecture.md, "Where
// refinement plugs in". Contents arrive with their issue.
