import sys

try:
    from .cli import run
except KeyboardInterrupt:               # Ctrl-C while Python is still importing: end quietly, as later
    print("dataaudit: interrupted", file=sys.stderr)
    sys.exit(2)

run()
