"""Counted nouns in messages and reports: "1 market policy", "2 market policies"."""


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`count` and the noun agreeing with it; `many` when adding "s" is not the plural."""
    if count == 1:
        return f"{count} {singular}"
    if many is None:
        many = singular[:-1] + "ies" if singular.endswith("y") and singular[-2:-1] not in "aeiou" \
            else singular + "s"
    return f"{count} {many}"
