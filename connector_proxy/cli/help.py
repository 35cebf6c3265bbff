"""What the command line tells the person who typed: a word it likely meant, a port already taken, a
table as wide as their terminal, log lines as sentences."""

from __future__ import annotations

import argparse
import errno
import logging
import re
import shutil
import socket
from collections.abc import Sequence
from typing import NoReturn

from connector_proxy.config import did_you_mean

ELLIPSIS = "…"


class Parser(argparse.ArgumentParser):
    """argparse that names the action or option a misspelt one likely meant."""

    def error(self, message: str) -> NoReturn:
        chosen = re.search(r"invalid choice: '([^']*)'", message)
        if chosen:
            message += did_you_mean(chosen[1], self._choices())
        unrecognized = re.search(r"unrecognized arguments: (.*)", message)
        if unrecognized:
            options = self._options()
            message += "".join(
                did_you_mean(word.split("=", 1)[0], options)
                for word in unrecognized[1].split()
                if word.startswith("-")
            )
        super().error(message)

    def _choices(self) -> list[str]:
        return [name for action in self._subparsers_actions() for name in action.choices]

    def _options(self) -> set[str]:
        """Every option of this parser and of its actions' parsers (the top one reports them all)."""
        options = set(self._option_string_actions)
        for action in self._subparsers_actions():
            for parser in action.choices.values():
                options |= set(parser._option_string_actions)
        return options

    def _subparsers_actions(self) -> list[argparse._SubParsersAction[argparse.ArgumentParser]]:
        return [a for a in self._actions if isinstance(a, argparse._SubParsersAction)]


def port_taken(bind: str) -> bool:
    """Does another socket listen at ``HOST:PORT`` already? (A unix socket or an fd: not asked.)"""
    host, _, port = bind.rpartition(":")
    if bind.startswith(("unix:", "fd://")) or not port.isdigit():
        return False
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - what gunicorn binds for an empty host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does: TIME_WAIT is free
        try:
            probe.bind((host, int(port)))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def fitted(rows: Sequence[tuple[str, str, str]], width: int | None = None) -> str:
    """Three columns within the terminal's width: the first whole, the others cut with an ellipsis."""
    width = width or shutil.get_terminal_size((120, 24)).columns
    first = max(len(row[0]) for row in rows)
    room = max(width - first - 4, 20)
    second = min(max(len(row[1]) for row in rows), max(room // 2, 10))
    third = max(room - second - 2, 10)
    return "\n".join(
        f"{a:<{first}}  {_cut(b, second):<{second}}  {_cut(c, third)}".rstrip() for a, b, c in rows
    )


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


class PersonFormatter(logging.Formatter):
    """``connector-proxy: warning: message``: what a command says, for a person; a failure's cause in
    one line (its traceback is for the daemon's logs, asked for with server.log_format = "json")."""

    def format(self, record: logging.LogRecord) -> str:
        from connector_proxy.telemetry.redaction import redact

        line = f"connector-proxy: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            line += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        return redact(line)
