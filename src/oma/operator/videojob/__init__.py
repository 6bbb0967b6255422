"""VideoJob: one FFmpeg job reconciled into a batch/v1 Job that runs the worker."""
