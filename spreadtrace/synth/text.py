"""Words, names and links for the synthetic world, and vectorised text assembly.

Why vectorised: at 10M posts, building one string per post in a Python loop is the
slowest part of a generator. Texts are drawn as matrices of word indices and joined
column-wise by polars (``concat_str`` with ``ignore_nulls``), so the cost is a few
array operations per batch, not per post.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> s = sentences(rng, np.zeros(3, dtype=np.int8), 4, 6)
>>> len(s), all(4 <= len(t.split()) <= 6 for t in s)
(3, True)
"""

from __future__ import annotations

import numpy as np
import polars as pl

EN_WORDS = (
    "the a to of and in is for on that this with it at be was are have not you we they "
    "from by new more just people time today about what all like so can will one now "
    "city council vote school water price rent game team season weather rain storm road "
    "traffic train bus coffee music film book show night morning weekend family friends "
    "health doctor hospital market bank jobs work office company report study data science "
    "climate energy power election court police fire park river bridge festival concert "
    "local news update photo video story thread question answer great good bad big small "
    "really never always still again finally best worst love hate think know see look "
    "need want help thanks happy sad funny crazy amazing interesting important official "
    "free open closed delayed cancelled record high low year month week day hour minute"
).split()

DE_WORDS = (
    "der die das und ist nicht mit auf für von zu im den ein eine heute jetzt mehr neue "
    "stadt rat wahl schule wasser preis miete spiel mannschaft wetter regen sturm straße "
    "verkehr zug bus kaffee musik film buch abend morgen wochenende familie freunde "
    "gesundheit arzt klinik markt bank arbeit büro firma bericht studie daten klima "
    "energie strom gericht polizei feuer park fluss brücke fest konzert nachrichten "
    "frage antwort gut schlecht groß klein wirklich immer wieder endlich danke toll"
).split()

FIRST_NAMES = (
    "anna ben chris dana eli fatima george hana ivan julia kai lena marco nina omar paula "
    "quinn rosa sam tara uwe vera will xena yusuf zoe alex maria lukas sofia jonas emma "
    "noah mia liam olivia leon ella finn clara david sarah tom laura max lisa paul julia "
    "ahmed leila kenji yuki mateo lucia ravi priya"
).split()

LAST_NAMES = (
    "smith jones miller brown wilson taylor clark walker young king wright green baker "
    "mueller schmidt schneider fischer weber meyer wagner becker hoffmann koch richter "
    "garcia martinez lopez rossi russo silva santos kowalski nowak novak dubois martin "
    "lee kim park chen wang singh patel khan ali"
).split()

DESC_WORDS = (
    "dad mum teacher nurse engineer runner coffee lover writer journalist photographer "
    "student researcher gamer cyclist cook gardener developer designer fan opinions mine "
    "views own retweets not endorsements living in berlin london chicago madrid hamburg "
    "toronto sydney proud parent dog cat books travel music football hiking science "
    "history politics local community volunteer she her he him they them"
).split()

SPAM_WORDS = (
    "crypto giveaway free followers promo deal dm win prize bitcoin nft earn cash daily "
    "signals click link bio limited offer best price shop now trending viral"
).split()

COMMENTS = (
    "wow|this|so true|unbelievable|source?|read this|must read|exactly|look at this|"
    "no way|interesting|thread|hmm|finally someone said it|this is huge|not surprised|"
    "share this|everyone needs to see this|lol|sad|agreed"
).split("|")

HASHTAGS = (
    "news weather football music breaking tech science climate politics health travel "
    "food photography books art film gaming election local sports"
).split()

NEWS_DOMAINS = (
    "dailyherald-news.com citywire-report.org metro-gazette.net the-morning-post.com "
    "globalwire-news.com valley-times.org northern-courier.net rhein-zeitung-online.de"
).split()

FRINGE_DOMAINS = (
    "truthsignal-news.net realfacts-daily.com freedom-insider.org awake-report.net "
    "hidden-truths.info patriot-wire-news.com uncensored-now.net"
).split()

SHORTENERS = ("bit.ly", "tinyurl.com", "ow.ly", "buff.ly")

# Share of posts by local hour (0..23): quiet at night, peaks in the evening, as
# measured on Twitter activity (e.g. Golder & Macy 2011, diurnal mood/activity curves).
DIURNAL = np.array(
    [3, 2, 1.2, 0.8, 0.6, 0.8, 1.5, 3, 4.5, 5, 5.2, 5.5]
    + [5.8, 5.6, 5.4, 5.4, 5.6, 6, 6.5, 7, 7.2, 6.8, 5.5, 4.2],
    dtype=np.float64,
)
DIURNAL = DIURNAL / DIURNAL.sum()

_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)


def zipf_weights(n: int, s: float = 1.0) -> np.ndarray:
    """Zipf weights ``1/rank**s`` over ``n`` items, normalised (word frequencies)."""
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    return w / w.sum()


def join_words(matrix: np.ndarray, lengths: np.ndarray, vocab: np.ndarray) -> pl.Series:
    """Join the first ``lengths[i]`` words of row ``i`` of an index ``matrix``.

    >>> m = np.array([[0, 1, 2], [2, 2, 0]])
    >>> join_words(m, np.array([2, 3]), np.array(["a", "b", "c"])).to_list()
    ['a b', 'c c a']
    """
    n, width = matrix.shape
    words = pl.Series("w", vocab.tolist(), dtype=pl.String)
    cols = []
    for j in range(width):  # loop over word positions (<= ~25), never over posts
        cols.append(words.gather(matrix[:, j]).set(pl.Series(lengths <= j), None).alias(f"w{j}"))
    frame = pl.DataFrame(cols)
    return frame.select(pl.concat_str(pl.all(), separator=" ", ignore_nulls=True))["w0"]


def sentences(
    rng: np.random.Generator,
    lang_de: np.ndarray,
    lo: int,
    hi: int,
) -> pl.Series:
    """Random sentences of ``lo..hi`` Zipf-distributed words, German where ``lang_de``."""
    n = len(lang_de)
    lengths = rng.integers(lo, hi + 1, size=n)
    en = np.array(EN_WORDS)
    de = np.array(DE_WORDS)
    m_en = rng.choice(len(en), size=(n, hi), p=zipf_weights(len(en), 0.9))
    m_de = rng.choice(len(de), size=(n, hi), p=zipf_weights(len(de), 0.9))
    s_en = join_words(m_en, lengths, en)
    s_de = join_words(m_de, lengths, de)
    return pl.select(
        pl.when(pl.Series(lang_de.astype(bool))).then(s_de).otherwise(s_en).alias("text")
    )["text"]


def random_tokens(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """``n`` random lower-case alphanumeric strings of ``length`` characters."""
    codes = _ALPHABET[rng.integers(0, len(_ALPHABET), size=(n, length))]
    return codes.view(f"S{length}").ravel().astype(str)
