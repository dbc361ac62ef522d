#!/usr/bin/env python3
"""Parse every feed given (files or URLs) with feedparser and fail unless each is clean.

Usage: check_feeds.py PATH_OR_URL...   Prints one JSON line per feed: {"feed", "bozo", "entries", "error"}.
Exit status 1 if any feed has bozo != 0 or cannot be read.
"""
import json
import sys

import feedparser


def main(args):
    bad = 0
    for target in args:
        parsed = feedparser.parse(target)
        error = str(parsed.get("bozo_exception", "")) if parsed.bozo else ""
        print(json.dumps({"feed": target, "bozo": int(parsed.bozo), "entries": len(parsed.entries),
                          "error": error}, ensure_ascii=False))
        bad += 1 if parsed.bozo else 0
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
