"""Equality indexes over an in-memory collection, so lookups and listings cost what they return.

An ``IndexedCollection`` keeps, for each indexed field, the keys of the documents holding each
value, and for each named *predicate* (``pending``: the default listing's filter) the keys of the
documents it holds for. ``where`` answers with the documents that may match an equality query: a
superset the caller still filters with the contract's own comparison (``queries.matches``), so an
index can only make an answer faster, never different. Fields without an index, or queries it
cannot narrow, get every document.

Values are indexed by ``(is a bool, value)``: the contract's comparison never takes ``True`` for
``1`` (which Python's ``==`` and ``hash`` do), while ``1`` and ``1.0`` stay one term, as they are
one number to it. A value that is not hashable (a list, an object) matches no scalar query and is
indexed nowhere. A missing field is indexed as ``None``, which is what a query for ``None`` finds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sinkkit.conformance.model import Collection

Document = dict[str, Any]
Term = tuple[Any, ...]
#: what a document yields for one field: the values it may be found by
Extractor = Callable[[Document], Iterable[Any]]


class FieldValue:
    """The field's own value (None when absent)."""

    def __init__(self, field: str):
        self.field = field

    def __call__(self, doc: Document) -> Iterable[Any]:
        return (doc.get(self.field),)


def nested_values(field: str, inner: str) -> Extractor:
    """Each ``inner`` of the objects in the list ``field`` (``publicKeys.key``)."""
    def values(doc: Document) -> Iterable[Any]:
        items = doc.get(field)
        if isinstance(items, list):
            return [item.get(inner) for item in items if isinstance(item, dict)]
        return ()
    return values


def term(name: str, value: Any) -> Term | None:
    """The index term of ``value`` for ``name``; None when it cannot be indexed."""
    t = (name, value.__class__ is bool, value)
    try:
        hash(t)
    except TypeError:  # a list, an object, a tuple holding one
        return None
    return t


def _index_field(buckets: dict[Term, dict[str, None]], docs: Mapping[str, Document],
                 name: str, field: str) -> None:
    """``rebuild`` for one plain field: ``term`` inlined, the loop every stored push takes."""
    for key, doc in docs.items():
        value = doc.get(field)
        t = (name, value.__class__ is bool, value)
        try:
            bucket = buckets.get(t)
        except TypeError:  # unhashable: indexed nowhere, as term() says
            continue
        if bucket is None:
            bucket = buckets[t] = {}
        bucket[key] = None


class IndexedCollection(Collection):
    """A Collection with equality indexes, kept in step by ``put`` / ``remove`` / ``reindex``.

    ``fields`` maps a field name (as queries and lookups name it) to what a document is found by;
    ``predicates`` maps a name to ``(query, test)``: documents passing ``test`` are listed under
    the name, and a query holding every item of ``query`` is answered from that list. With
    ``ordered``, a bucket of several documents comes back in collection order (the model's "first
    match" lookups depend on it); without it, in the order they joined the bucket (listings sort
    their answer anyway).
    """

    def __init__(self, fields: Mapping[str, Extractor] | None = None,
                 predicates: Mapping[str, tuple[Mapping[str, Any], Callable[[Document], bool]]]
                 | None = None, ordered: bool = False):
        super().__init__()
        self._fields = dict(fields or {})
        self._predicates = dict(predicates or {})
        self._predicate_terms = {name: [term(k, v) for k, v in query.items()]
                                 for name, (query, _) in self._predicates.items()}
        self._buckets: dict[Term, dict[str, None]] = {}
        self._ordered = ordered
        #: insertion rank of every key (ordered collections only): collection order
        self._rank: dict[str, int] = {}
        self._next_rank = 0

    # -- keeping the index in step -------------------------------------------------------------

    def _terms(self, doc: Document) -> list[Term]:
        found: list[Term] = []
        for name, values in self._fields.items():
            for value in values(doc):
                t = term(name, value)
                if t is not None and t not in found:
                    found.append(t)
        for name, (_, test) in self._predicates.items():
            if test(doc):
                found.append(("$" + name,))
        return found

    def reindex(self, key: str, old: Document | None, new: Document | None) -> None:
        """Move ``key`` from ``old``'s terms to ``new``'s (either None: added or removed)."""
        before = self._terms(old) if old is not None else []
        after = self._terms(new) if new is not None else []
        if before != after:
            for t in before:
                if t not in after:
                    self._drop(t, key)
            for t in after:
                if t not in before:
                    self._buckets.setdefault(t, {})[key] = None
        if self._ordered:
            if new is None:
                self._rank.pop(key, None)
            elif old is None:
                self._rank[key] = self._next_rank
                self._next_rank += 1

    def _drop(self, t: Term, key: str) -> None:
        bucket = self._buckets.get(t)
        if bucket is not None:
            bucket.pop(key, None)
            if not bucket:
                del self._buckets[t]

    def rebuild(self) -> None:
        """Index every document from scratch (after loading ``docs`` directly): the same terms
        as ``reindex`` gives, built field by field (a hundred thousand pushes at open)."""
        buckets: dict[Term, dict[str, None]] = {}
        docs = self.docs
        for name, values in self._fields.items():
            if isinstance(values, FieldValue):
                _index_field(buckets, docs, name, values.field)
                continue
            for key, doc in docs.items():
                for value in values(doc):
                    t = term(name, value)
                    if t is not None:
                        bucket = buckets.get(t)
                        if bucket is None:
                            bucket = buckets[t] = {}
                        bucket[key] = None
        for name, (_, test) in self._predicates.items():
            buckets[("$" + name,)] = {key: None for key, doc in docs.items() if test(doc)}
            if not buckets[("$" + name,)]:
                del buckets[("$" + name,)]
        self._buckets = buckets
        self._rank = {key: i for i, key in enumerate(docs)} if self._ordered else {}
        self._next_rank = len(docs)

    def put(self, key: str, doc: Document) -> None:
        self.reindex(key, self.docs.get(key), doc)
        super().put(key, doc)

    def remove(self, key: str) -> None:
        if key in self.docs:
            self.reindex(key, self.docs[key], None)
        super().remove(key)

    # -- answering -----------------------------------------------------------------------------

    def _bucket(self, query: Mapping[str, Any]) -> dict[str, None] | None:
        """The smallest index list holding every match of ``query``; None: no index narrows it."""
        best: dict[str, None] | None = None
        for name, wanted in self._predicate_terms.items():
            if all(t is not None and t[0] in query and term(t[0], query[t[0]]) == t
                   for t in wanted):
                best = self._buckets.get(("$" + name,), {})
        for name, value in query.items():
            if name not in self._fields:
                continue
            t = term(name, value)
            if t is None:  # an unhashable value: the index cannot narrow by it
                continue
            bucket = self._buckets.get(t, {})
            if best is None or len(bucket) < len(best):
                best = bucket
        return best

    def where(self, query: Mapping[str, Any]) -> Iterable[Document]:
        if len(query) == 1 and not self._predicates:  # a lookup by one field: one bucket
            ((name, value),) = query.items()
            if name in self._fields:
                try:
                    bucket = self._buckets.get((name, value.__class__ is bool, value), ())
                except TypeError:  # an unhashable value: the index cannot narrow by it
                    return iter(self)
                if len(bucket) < 2:
                    return [self.docs[k] for k in bucket]
        return self.where_any([query])

    def where_any(self, queries: Sequence[Mapping[str, Any]]) -> Iterator[Document]:
        buckets = [self._bucket(q) for q in queries]
        if not queries or any(b is None for b in buckets):
            return iter(self)
        keys: dict[str, None] = {}
        for bucket in buckets:
            keys.update(bucket)  # type: ignore[arg-type]
        ordered = list(keys)
        if self._ordered and len(ordered) > 1:
            ordered.sort(key=self._rank.__getitem__)
        docs = self.docs
        return iter([docs[k] for k in ordered])
