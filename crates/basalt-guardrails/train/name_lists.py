"""Build the word lists the NAME detector (src/names.rs) reads, from files in public packages.

    python name_lists.py --words /usr/share/dict/american-english

Needs `faker` (MIT, PyPI; the version is recorded in data/SOURCES.md) importable, and the word
list of Debian's `wamerican` package (`apt-get download wamerican`, then `dpkg-deb -x`).
Writes, next to the census lists already in data/:

- first_names_world.txt, surnames_world.txt: the first names and surnames of Faker's person
  providers for every locale, lower-cased, Latin script only (the detector reads capitalised
  Latin-script words), minus the census lists' entries; surnames that are English words
  ("stone", "church") are left out, as a capitalised English word is weak evidence of a name;
- places.txt: the countries, states, provinces and regions of Faker's address providers for
  every locale, and their cities that are not also first names or surnames, lower-cased, Latin
  script (of a multi-word place, each word that is neither English nor a name): "France" and
  "Germany" are capitalised words that are not people;
- english_words.txt: wamerican's lower-case words (proper nouns there are capitalised, so
  they stay out): a capitalised word that is not one of these is unknown to English, which with
  other evidence makes it a likely name;
- first_names_common_words.txt: the first names (census and Faker) that are also English words
  ("will", "grace", "per"), which need stronger evidence to count as a name.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import unicodedata
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
FIRST_NAME_ATTRS = ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary")
SURNAME_ATTRS = ("last_names", "last_names_male", "last_names_female")


def latin(name: str) -> bool:
    """Letters of the Latin script (Basic Latin to Latin Extended-B), hyphens and apostrophes."""
    return bool(name) and all(
        (c.isalpha() and ord(c) < 0x250) or c in "-'" for c in name
    ) and name[0].isalpha()


def names_of(value) -> list[str]:
    # Providers keep names as tuples/lists, or as dicts of name -> weight.
    if isinstance(value, dict):
        value = list(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [v for v in value if isinstance(v, str)]
    return []


def faker_names() -> tuple[set[str], set[str]]:
    import faker.providers.person as person

    first, last = set(), set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        for attrs, into in ((FIRST_NAME_ATTRS, first), (SURNAME_ATTRS, last)):
            for attr in attrs:
                for name in names_of(provider.__dict__.get(attr)):
                    name = unicodedata.normalize("NFC", name.strip()).lower()
                    # Multi-word entries ("de la Cruz") are left out: the detector reads words.
                    if " " not in name and len(name) > 1 and latin(name):
                        into.add(name)
    return first, last


REGION_ATTRS = ("countries", "states", "provinces", "regions")
CITY_ATTRS = ("cities", "city_names")


def faker_places(english: set[str], names: set[str]) -> set[str]:
    import faker.providers.address as address

    places = set()
    for module in pkgutil.iter_modules(address.__path__):
        provider = importlib.import_module(f"{address.__name__}.{module.name}").Provider
        for attr in REGION_ATTRS + CITY_ATTRS:
            for place in names_of(provider.__dict__.get(attr)):
                words = unicodedata.normalize("NFC", place).lower().replace("-", " ").split()
                for word in words:
                    # "Georgia" the state stays a place; "Santa Maria" does not make Maria one.
                    region = attr in REGION_ATTRS and len(words) == 1
                    if len(word) > 2 and latin(word) and (
                        region or (word not in names and word not in english)
                    ):
                        places.add(word)
    return places


def read(name: str) -> set[str]:
    return {line.strip() for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()}


def write(name: str, words: set[str]) -> None:
    (DATA / name).write_text("".join(f"{w}\n" for w in sorted(words)), encoding="utf-8")
    print(f"{name}: {len(words)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=Path, required=True, help="wamerican's american-english")
    args = parser.parse_args()
    english = {
        w for w in args.words.read_text(encoding="utf-8").split()
        if w.isalpha() and w.islower() and len(w) > 1
    }
    census_first, census_last = read("first_names.txt"), read("surnames.txt")
    world_first, world_last = faker_names()
    write("first_names_world.txt", world_first - census_first)
    write("surnames_world.txt", world_last - census_last - english)
    write("english_words.txt", english)
    write("places.txt", faker_places(english, census_first | census_last | world_first | world_last))
    write("first_names_common_words.txt", (census_first | world_first) & english)


if __name__ == "__main__":
    main()
