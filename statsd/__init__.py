"""statsd: statistics of the BRFSS nutrition and obesity data over a JSON job API.

Standard library only.  The data path, one module a step:

    request -> server (validates) -> jobs (queue, worker, result store)
            -> stats (pure functions of the ingest Dataset) -> results/<job_id>.json
"""

__version__ = "0.1.0"
