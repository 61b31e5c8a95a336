"""The bundled sample news site: article data rendered on one template, with real-site boilerplate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from importlib.resources import files
from urllib.parse import urlsplit

import yaml

HOME_PAGE_SIZE = 5
SECTION_PAGE_SIZE = 3
FEED_SIZE = 10


@dataclass(frozen=True)
class DemoArticle:
    """One invented article of the sample site."""

    slug: str
    published: datetime
    section: str
    tags: tuple[str, ...]
    author: str
    title: str
    summary: str
    paragraphs: tuple[str, ...]
    comments: tuple[tuple[str, str], ...]
    lang: str

    @property
    def path(self) -> str:
        return f"/{self.published:%Y}/{self.published:%m}/{self.slug}/"


@dataclass(frozen=True)
class DemoSite:
    """The whole sample site: metadata plus articles, newest first."""

    name: str
    tagline: str
    twitter: str
    sections: dict[str, str]
    articles: tuple[DemoArticle, ...]

    def by_path(self, path: str) -> DemoArticle | None:
        return next((a for a in self.articles if a.path == path), None)


@dataclass(frozen=True)
class Response:
    """What the server sends back for one path."""

    status: int
    content_type: str
    body: bytes


def load_site() -> DemoSite:
    """Read the article data shipped with the package."""
    raw = yaml.safe_load(files(__name__).joinpath("articles.yaml").read_text(encoding="utf-8"))
    site = raw["site"]
    articles = [
        DemoArticle(
            slug=item["slug"],
            published=datetime.fromisoformat(item["date"]),
            section=item["section"],
            tags=tuple(item["tags"]),
            author=item["author"],
            title=item["title"],
            summary=item["summary"],
            paragraphs=tuple(p.strip() for p in item["body"].split("\n\n") if p.strip()),
            comments=tuple((c[0], c[1]) for c in item.get("comments") or []),
            lang=item.get("lang", "en"),
        )
        for item in raw["articles"]
    ]
    articles.sort(key=lambda a: a.published, reverse=True)
    return DemoSite(
        name=site["name"],
        tagline=site["tagline"],
        twitter=site["twitter"],
        sections=dict(site["sections"]),
        articles=tuple(articles),
    )


def render(
    site: DemoSite, path: str, base_url: str, updates: Mapping[str, str] | None = None
) -> Response:
    """Render one path of the site. `updates` maps an article slug to an extra paragraph
    (lets a test change an article's text between two crawls)."""
    path = urlsplit(path).path or "/"
    if not path.endswith("/") and "." not in path.rsplit("/", 1)[-1]:
        path += "/"
    page = _Renderer(site, base_url.rstrip("/"), updates or {})
    return page.route(path)


class _Renderer:
    def __init__(self, site: DemoSite, base: str, updates: Mapping[str, str]) -> None:
        self.site = site
        self.base = base
        self.updates = updates

    # -- routing -------------------------------------------------------------------------
    def route(self, path: str) -> Response:
        parts = [p for p in path.split("/") if p]
        if path == "/robots.txt":
            return self._text(self.robots(), "text/plain; charset=utf-8")
        if path == "/sitemap.xml":
            return self._text(self.sitemap_index(), "application/xml")
        if path == "/sitemap-news.xml":
            return self._text(self.news_sitemap(), "application/xml")
        if path == "/sitemap-pages.xml":
            return self._text(self.pages_sitemap(), "application/xml")
        if path == "/feed/":
            return self._text(self.feed(), "application/rss+xml; charset=utf-8")
        if path == "/style.css":
            return self._text(_CSS, "text/css")
        if not parts:
            return self.listing(self.site.articles, 1, HOME_PAGE_SIZE, "/", self.site.tagline)
        if parts[0] == "page" and len(parts) == 2 and parts[1].isdigit():
            return self.listing(
                self.site.articles, int(parts[1]), HOME_PAGE_SIZE, "/", self.site.tagline
            )
        if parts[0] in ("category", "tag") and len(parts) in (2, 4):
            return self.section_or_tag(parts)
        if parts == ["about"]:
            return self.about()
        if parts[0] == "search":
            return self._html(200, self.layout("Search", "<p>Search is not available.</p>"))
        article = self.site.by_path(path)
        if article is not None:
            return self._html(200, self.article_page(article))
        return self._html(404, self.layout("Page not found", "<p>Nothing here.</p>"))

    def section_or_tag(self, parts: list[str]) -> Response:
        kind, key = parts[0], parts[1]
        page = 1
        if len(parts) == 4:
            if parts[2] != "page" or not parts[3].isdigit():
                return self._html(404, self.layout("Page not found", "<p>Nothing here.</p>"))
            page = int(parts[3])
        if kind == "category":
            items = tuple(a for a in self.site.articles if a.section == key)
            heading = self.site.sections.get(key, "")
        else:
            items = tuple(a for a in self.site.articles if key in a.tags)
            heading = f"Tagged: {key}"
        if not items:
            return self._html(404, self.layout("Page not found", "<p>Nothing here.</p>"))
        return self.listing(items, page, SECTION_PAGE_SIZE, f"/{kind}/{key}/", heading)

    # -- pages ---------------------------------------------------------------------------
    def listing(
        self, items: tuple[DemoArticle, ...], page: int, size: int, prefix: str, heading: str
    ) -> Response:
        pages = max(1, -(-len(items) // size))
        if page < 1 or page > pages:
            return self._html(404, self.layout("Page not found", "<p>Nothing here.</p>"))
        chunk = items[(page - 1) * size : page * size]
        cards = "\n".join(
            f"""<article class="post-card">
  <h2 class="entry-title"><a href="{a.path}">{escape(a.title)}</a></h2>
  <div class="entry-meta">By {escape(a.author)} · <time datetime="{a.published.isoformat()}">{a.published:%B %d, %Y}</time> · <a href="/category/{a.section}/">{escape(self.site.sections[a.section])}</a></div>
  <p class="excerpt">{escape(a.summary)}</p>
  <a class="more-link" href="{a.path}">Continue reading</a>
</article>"""
            for a in chunk
        )
        nav = []
        if page > 1:
            prev_path = prefix if page == 2 else f"{prefix}page/{page - 1}/"
            nav.append(f'<a class="newer-posts" href="{prev_path}">&larr; Newer posts</a>')
        if page < pages:
            nav.append(
                f'<a class="older-posts" href="{prefix}page/{page + 1}/">Older posts &rarr;</a>'
            )
        body = f"""<h1 class="page-title">{escape(heading)}</h1>
<div class="post-list">
{cards}
</div>
<nav class="pagination">{" ".join(nav)} <span>Page {page} of {pages}</span></nav>"""
        title = heading if page == 1 else f"{heading} – page {page}"
        return self._html(
            200, self.layout(title, body, canonical=f"{prefix}" if page == 1 else None)
        )

    def about(self) -> Response:
        body = f"""<h1 class="page-title">About us</h1>
<p>{escape(self.site.name)} is an invented newspaper that ships with newsarchive as a demo.</p>
<p>Contact the newsroom at news@alderbay.example. Corrections: corrections@alderbay.example.</p>"""
        return self._html(200, self.layout("About us", body, canonical="/about/"))

    def article_page(self, a: DemoArticle) -> str:
        section = self.site.sections[a.section]
        paragraphs = list(a.paragraphs)
        if a.slug in self.updates:
            paragraphs.append(self.updates[a.slug])
        mid = max(1, len(paragraphs) // 2)
        body_html = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs[:mid])
        body_html += f"""
<aside class="inline-related"><strong>Read more:</strong> <a href="{self._related(a)[0].path}?utm_source=inline&amp;utm_medium=web">{escape(self._related(a)[0].title)}</a></aside>
"""
        body_html += "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs[mid:])
        tags = ", ".join(f'<a href="/tag/{t}/" rel="tag">{escape(t)}</a>' for t in a.tags)
        related = "\n".join(
            f"""<li class="related-item"><a href="{r.path}?utm_source=related&amp;utm_medium=web"><span class="related-title">{escape(r.title)}</span></a><p>{escape(r.summary)}</p><time>{r.published:%B %d, %Y}</time></li>"""
            for r in self._related(a)
        )
        comment_items = "\n".join(
            f"""<li class="comment"><article class="comment-body"><footer class="comment-meta"><b class="fn">{escape(who)}</b> <span class="says">says:</span> <time>{a.published:%B %d, %Y} at 9:14 pm</time></footer><div class="comment-content"><p>{escape(what)}</p></div><a class="comment-reply-link" href="#respond">Reply</a></article></li>"""
            for who, what in a.comments
        )
        n = len(a.comments)
        comments_title = (
            f'<h2 class="comments-title">{n} thought{"s" if n != 1 else ""} on &ldquo;{escape(a.title)}&rdquo;</h2><ol class="comment-list">{comment_items}</ol>'
            if n
            else ""
        )
        modified = a.published.replace(hour=min(23, a.published.hour + 2))
        jsonld = {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": a.title,
            "description": a.summary,
            "datePublished": a.published.isoformat(),
            "dateModified": modified.isoformat(),
            "author": [{"@type": "Person", "name": a.author}],
            "publisher": {"@type": "Organization", "name": self.site.name},
            "articleSection": section,
            "keywords": list(a.tags),
            "inLanguage": a.lang,
            "mainEntityOfPage": {"@type": "WebPage", "@id": self.base + a.path},
        }
        head = f"""<meta name="description" content="{escape(a.summary)}">
<meta name="author" content="{escape(a.author)}">
<meta property="og:type" content="article">
<meta property="og:title" content="{escape(a.title)}">
<meta property="og:description" content="{escape(a.summary)}">
<meta property="og:url" content="{self.base}{a.path}">
<meta property="og:site_name" content="{escape(self.site.name)}">
<meta property="article:published_time" content="{a.published.isoformat()}">
<meta property="article:modified_time" content="{modified.isoformat()}">
<meta property="article:section" content="{escape(section)}">
{"".join(f'<meta property="article:tag" content="{escape(t)}">' for t in a.tags)}
<script type="application/ld+json">{json.dumps(jsonld, ensure_ascii=False)}</script>"""
        body = f"""<nav class="breadcrumbs"><a href="/">Home</a> &rsaquo; <a href="/category/{a.section}/">{escape(section)}</a></nav>
<article class="post type-post status-publish category-{a.section}">
  <header class="entry-header">
    <span class="cat-links"><a href="/category/{a.section}/" rel="category tag">{escape(section)}</a></span>
    <h1 class="entry-title">{escape(a.title)}</h1>
    <div class="entry-meta">By <a class="author url fn" rel="author" href="/about/">{escape(a.author)}</a> · <time class="entry-date published" datetime="{a.published.isoformat()}">{a.published:%B %d, %Y}</time> · <span class="reading-time">{max(1, sum(len(p.split()) for p in paragraphs) // 200)} min read</span></div>
  </header>
  <div class="sharedaddy sd-sharing-enabled"><h3 class="sd-title">Share this:</h3><ul><li><a class="share-twitter" href="#">Twitter</a></li><li><a class="share-facebook" href="#">Facebook</a></li><li><a class="share-email" href="#">Email</a></li><li><a class="share-print" href="#">Print</a></li></ul></div>
  <div class="entry-content">
{body_html}
    <div class="newsletter-signup"><h3>Join our Weekly Newsletter</h3><p>Get the week's top stories from the bay in your inbox every Friday. It's free.</p><form action="/newsletter/" method="post"><input type="email" name="email" placeholder="Your email address"><button type="submit">Subscribe</button></form></div>
    <p class="follow-prompt">For the latest news follow us on <a href="#">Twitter</a> {escape(self.site.twitter)} and like us on <a href="#">Facebook</a>.</p>
  </div>
  <footer class="entry-footer"><span class="tags-links">Tags: {tags}</span></footer>
</article>
<section class="related-posts"><h3 class="related-posts-title">You may also like</h3><ul>{related}</ul></section>
<div id="comments" class="comments-area">
  {comments_title}
  <div id="respond" class="comment-respond">
    <h3 id="reply-title" class="comment-reply-title">Leave a Reply</h3>
    <form action="/wp-comments-post.php" method="post" id="commentform" class="comment-form">
      <p class="comment-notes"><span id="email-notes">Your email address will not be published.</span> Required fields are marked <span class="required">*</span></p>
      <p class="comment-form-comment"><label for="comment">Comment <span class="required">*</span></label><textarea id="comment" name="comment" rows="8"></textarea></p>
      <p class="comment-form-author"><label for="author">Name <span class="required">*</span></label><input id="author" name="author" type="text"></p>
      <p class="comment-form-email"><label for="email">Email <span class="required">*</span></label><input id="email" name="email" type="email"></p>
      <p class="comment-form-url"><label for="url">Website</label><input id="url" name="url" type="url"></p>
      <p class="math-captcha"><label for="mc-input">20 &minus; fourteen = <span class="required">*</span></label><input id="mc-input" name="mc-value" type="text" size="2"></p>
      <p class="comment-form-cookies-consent"><input id="wp-comment-cookies-consent" type="checkbox"><label for="wp-comment-cookies-consent">Save my name, email, and website in this browser for the next time I comment.</label></p>
      <p class="form-submit"><input name="submit" type="submit" id="submit" class="submit" value="Post Comment"></p>
    </form>
  </div>
</div>"""
        return self.layout(a.title, body, head=head, canonical=a.path, lang=a.lang)

    # -- shared template -----------------------------------------------------------------
    def layout(
        self,
        title: str,
        main: str,
        *,
        head: str = "",
        canonical: str | None = None,
        lang: str = "en",
    ) -> str:
        sections = "".join(
            f'<li><a href="/category/{key}/">{escape(label)}</a></li>'
            for key, label in self.site.sections.items()
        )
        latest = "".join(
            f'<li><a href="{a.path}">{escape(a.title)}</a></li>' for a in self.site.articles[:4]
        )
        canon = f'<link rel="canonical" href="{self.base}{canonical}">' if canonical else ""
        return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} – {escape(self.site.name)}</title>
{canon}
<link rel="alternate" type="application/rss+xml" title="{escape(self.site.name)} feed" href="{self.base}/feed/">
<link rel="stylesheet" href="/style.css">
{head}
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<div class="top-bar"><span class="date">Alder Bay, 41°F, light rain</span> <a href="/newsletter/">Newsletter</a> <a href="/subscribe/">Subscribe</a> <a href="/login/">Log in</a></div>
<header class="site-header">
  <p class="site-title"><a href="/" rel="home">{escape(self.site.name)}</a></p>
  <p class="site-description">{escape(self.site.tagline)}</p>
  <nav class="main-navigation" aria-label="Primary"><ul><li><a href="/">Home</a></li>{sections}<li><a href="/about/">About</a></li><li><a href="/search/?q=">Search</a></li></ul></nav>
</header>
<div class="breaking-ticker"><strong>Breaking:</strong> <a href="{self.site.articles[0].path}">{escape(self.site.articles[0].title)}</a></div>
<div class="site-content">
<main id="main" class="content-area">
{main}
</main>
<aside class="sidebar widget-area">
  <section class="widget widget_recent_entries"><h2 class="widget-title">Latest news</h2><ul>{latest}</ul></section>
  <section class="widget widget_text"><h2 class="widget-title">Advertise with us</h2><p>Reach 20,000 readers around the bay. Call 555-0142.</p></section>
  <section class="widget widget_archive"><h2 class="widget-title">Archives</h2><ul><li><a href="/2019/archive/">2019 (old site)</a></li></ul></section>
</aside>
</div>
<footer class="site-footer">
  <nav class="footer-navigation"><ul><li><a href="/about/">About us</a></li><li><a href="/contact/">Contact</a></li><li><a href="/privacy/">Privacy policy</a></li><li><a href="/feed/">RSS</a></li></ul></nav>
  <p class="copyright">&copy; 2026 {escape(self.site.name)}. 12 Harbor Street, Alder Bay. All rights reserved.</p>
</footer>
<div class="cookie-notice" role="dialog"><p>We use cookies to improve your experience and to show relevant ads. By continuing to browse you agree to our use of cookies.</p><button>Accept</button> <a href="/privacy/">Learn more</a></div>
</body>
</html>
"""

    def _related(self, a: DemoArticle) -> list[DemoArticle]:
        others = [o for o in self.site.articles if o.slug != a.slug]
        same = [o for o in others if o.section == a.section or set(o.tags) & set(a.tags)]
        rest = [o for o in others if o not in same]
        return (same + rest)[:3]

    # -- machine-readable files ----------------------------------------------------------
    def robots(self) -> str:
        return f"""User-agent: *
Disallow: /search/
Disallow: /wp-admin/

Sitemap: {self.base}/sitemap.xml
"""

    def sitemap_index(self) -> str:
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>{self.base}/sitemap-news.xml</loc></sitemap>
  <sitemap><loc>{self.base}/sitemap-pages.xml</loc></sitemap>
</sitemapindex>
"""

    def news_sitemap(self) -> str:
        entries = "\n".join(
            f"""  <url>
    <loc>{self.base}{a.path}</loc>
    <lastmod>{a.published.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}</lastmod>
    <news:news>
      <news:publication><news:name>{escape(self.site.name)}</news:name><news:language>{a.lang}</news:language></news:publication>
      <news:publication_date>{a.published.isoformat()}</news:publication_date>
      <news:title>{escape(a.title)}</news:title>
    </news:news>
  </url>"""
            for a in self.site.articles
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
{entries}
</urlset>
"""

    def pages_sitemap(self) -> str:
        paths = ["/", "/about/", *(f"/category/{s}/" for s in self.site.sections)]
        entries = "\n".join(f"  <url><loc>{self.base}{p}</loc></url>" for p in paths)
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
{entries}
</urlset>
"""

    def feed(self) -> str:
        items = "\n".join(
            f"""  <item>
    <title>{escape(a.title)}</title>
    <link>{self.base}{a.path}</link>
    <guid isPermaLink="true">{self.base}{a.path}</guid>
    <pubDate>{format_datetime(a.published.astimezone(UTC))}</pubDate>
    <dc:creator>{escape(a.author)}</dc:creator>
    <category>{escape(self.site.sections[a.section])}</category>
    <description>{escape(a.summary)}</description>
  </item>"""
            for a in self.site.articles[:FEED_SIZE]
        )
        newest = self.site.articles[0].published.astimezone(UTC)
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title>{escape(self.site.name)}</title>
  <link>{self.base}/</link>
  <atom:link href="{self.base}/feed/" rel="self" type="application/rss+xml"/>
  <description>{escape(self.site.tagline)}</description>
  <language>en</language>
  <lastBuildDate>{format_datetime(newest)}</lastBuildDate>
{items}
</channel>
</rss>
"""

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _text(text: str, content_type: str) -> Response:
        return Response(200, content_type, text.encode("utf-8"))

    @staticmethod
    def _html(status: int, html: str) -> Response:
        return Response(status, "text/html; charset=utf-8", html.encode("utf-8"))


def article_paths(site: DemoSite) -> list[str]:
    """Paths of every article page (what a complete crawl should turn into articles)."""
    return [a.path for a in site.articles]


_CSS = """body{font-family:Georgia,serif;margin:0;color:#222}
.top-bar{background:#123;color:#fff;font:12px sans-serif;padding:4px 12px}
.top-bar a{color:#fff;margin-left:8px}
.site-header{padding:16px 12px;border-bottom:3px solid #123}
.site-title{font-size:32px;margin:0}.site-title a{color:#123;text-decoration:none}
.main-navigation ul{list-style:none;padding:0;display:flex;gap:14px;font:14px sans-serif}
.breaking-ticker{background:#b00;color:#fff;padding:6px 12px;font:14px sans-serif}
.breaking-ticker a{color:#fff}
.site-content{display:flex;gap:24px;padding:12px;max-width:1100px;margin:auto}
.content-area{flex:3}.sidebar{flex:1;font:14px sans-serif}
.entry-meta,.cat-links,.breadcrumbs{font:13px sans-serif;color:#666}
.newsletter-signup{background:#eef;padding:12px;margin:16px 0}
.sharedaddy ul{list-style:none;display:flex;gap:8px;padding:0}
.related-posts ul{list-style:none;padding:0}
.comment-respond{border-top:1px solid #ccc;margin-top:24px}
.site-footer{background:#123;color:#ccc;padding:16px;font:13px sans-serif}
.site-footer a{color:#fff}
.cookie-notice{position:fixed;bottom:0;left:0;right:0;background:#333;color:#fff;padding:8px;font:13px sans-serif}
"""
