"""Reading documents: turn files and folders into `{"id", "text"}` documents.

The CLI, the Python API and the servers share this one reader, so a format added here is
read the same way everywhere.
"""

from longcepo.documents.files import TEXT_SUFFIXES, read_documents

__all__ = ["TEXT_SUFFIXES", "read_documents"]
