"""How each daemon process runs: its greenlets, and what it starts after the fork.

concurrency.py  gevent: patching before anything else loads, ending calls whose client hung up,
                CPU-bound work off the event loop
services.py     ProcessServices: what each worker process starts after the fork and stops at exit
"""
