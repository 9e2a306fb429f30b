"""What operators see: request logs, metrics, traces and Server-Timing."""
