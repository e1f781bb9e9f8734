"""ccmon: a real-time call-center queue monitor.

>>> import ccmon
>>> m = ccmon.Monitor({"service_level_seconds": 30})
>>> m.feed(b"100|c1|sales|NONE|ENTERQUEUE||600111222\\n125|c1|sales|Agent/1|CONNECT|25|x|1\\n")
>>> m.queues("all")["service_level"].to_list()
[1.0]
"""

from ccmon.config import Config, ConfigError
from ccmon.monitor import Monitor

__all__ = ["Config", "ConfigError", "Monitor", "__version__"]
__version__ = "0.1.0"
