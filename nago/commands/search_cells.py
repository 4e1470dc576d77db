"""`nago search bananas|bonas|evolution|local` over NAS-Bench cell spaces (found by `nago search` as a
search_<name> module; the commands themselves live in `nago.commands.cellsearch`)."""
from nago.commands.cellsearch import register_cell_methods as register_search

__all__ = ["register_search"]
