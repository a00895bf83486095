"""Reading documents: files, folders, URLs, stdin and bytes, in PDF, Word, HTML or text.

The CLI, the Python API and the servers share this one reader, so a format added here is
read the same way everywhere. `read_limited` is the capped byte reader every input uses.
"""

from longcepo.documents.fetch import FetchError
from longcepo.documents.files import DOCUMENT_SUFFIXES, TEXT_SUFFIXES
from longcepo.documents.limits import MAX_INPUT_BYTES, read_limited, read_stream_limited
from longcepo.documents.reader import Source, parse, read_documents

__all__ = ["DOCUMENT_SUFFIXES", "MAX_INPUT_BYTES", "TEXT_SUFFIXES", "FetchError", "Source", "parse",
           "read_documents", "read_limited", "read_stream_limited"]
