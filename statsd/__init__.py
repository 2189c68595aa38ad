"""statsd: statistics of the BRFSS nutrition and obesity data over a JSON job API.

Standard library only.  The data path, one module a step:

    request -> server (validates) -> jobs (queue, worker, result store)
            -> stats (pure functions of the ingest Dataset) -> results/<job_id>.json
"""

import logging

__version__ = "0.1.0"

# Until statsd.logs.configure() sets up webserver.log, records go nowhere
# (not to logging's last-resort stderr handler, which would print start-up
# errors a second time after the command line's own one-line message).
logging.getLogger(__name__).addHandler(logging.NullHandler())
