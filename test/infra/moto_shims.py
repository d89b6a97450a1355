"""A moto server with the few fixes the Terraform rehearsal needs; run as a script.

Each shim fills a gap between moto and the AWS API that would otherwise make the
re-plan after apply show changes that real AWS would not:

- Kinesis CreateStream ignores its ``Tags`` parameter (moto 5.2.5); the AWS provider
  sends the default tags there and never calls AddTagsToStream on create.
"""

from __future__ import annotations

import sys
from typing import Any

from moto import server
from moto.kinesis.responses import KinesisResponse

__all__ = ["main"]

_create_stream = KinesisResponse.create_stream


def _create_stream_with_tags(self: KinesisResponse) -> Any:
    result = _create_stream(self)
    tags = self._get_param("Tags")
    if tags:
        self.kinesis_backend.add_tags_to_stream(stream_arn=None, stream_name=self._get_param("StreamName"), tags=tags)
    return result


def main(argv: list[str] | None = None) -> None:
    """Patch moto, then start its server with the given command-line arguments."""
    KinesisResponse.create_stream = _create_stream_with_tags  # type: ignore[method-assign]
    server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
