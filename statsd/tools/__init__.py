"""Development tools: the benchmark, the server profiler, the synthetic data generator.

Why a subpackage: these run as ``python3 -m statsd.tools.<tool>`` from any
directory, and the runtime modules never import them, so a reader of
``statsd/`` sees the server's data path, and the server loads none of this.
"""
