"""The bundled sample news site: invented articles on one template with real-site boilerplate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from importlib.resources import files
from string import Template
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
class Templates:
    """The HTML templates (string.Template syntax) and the stylesheet."""

    blocks: dict[str, Template]
    css: str

    def fill(self, name: str, **values: str) -> str:
        return self.blocks[name].substitute(values)


def load_templates() -> Templates:
    """Read layout.html, article.html, fragments.html ('@@ name' blocks) and style.css."""
    pkg = files(__name__)
    blocks = {
        "layout": Template(pkg.joinpath("layout.html").read_text(encoding="utf-8")),
        "article": Template(pkg.joinpath("article.html").read_text(encoding="utf-8")),
    }
    fragments = pkg.joinpath("fragments.html").read_text(encoding="utf-8")
    for chunk in fragments.split("\n@@ ")[1:]:
        name, _, body = chunk.partition("\n")
        blocks[name.strip()] = Template(body.rstrip("\n"))
    return Templates(blocks=blocks, css=pkg.joinpath("style.css").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class DemoSite:
    """The whole sample site: metadata plus articles, newest first."""

    name: str
    tagline: str
    twitter: str
    sections: dict[str, str]
    articles: tuple[DemoArticle, ...]
    templates: Templates

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
        templates=load_templates(),
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
        self.templates = site.templates
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
            return self._text(self.templates.css, "text/css")
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
        cards = "\n".join(self.templates.fill("card", **self._fields(a)) for a in chunk)
        nav = []
        if page > 1:
            prev_path = prefix if page == 2 else f"{prefix}page/{page - 1}/"
            nav.append(f'<a class="newer-posts" href="{prev_path}">&larr; Newer posts</a>')
        if page < pages:
            nav.append(f'<a class="older-posts" href="{prefix}page/{page + 1}/">Older posts</a>')
        body = self.templates.fill(
            "listing",
            heading=escape(heading),
            cards=cards,
            nav=" ".join(nav),
            page=str(page),
            pages=str(pages),
        )
        title = heading if page == 1 else f"{heading} – page {page}"
        return self._html(200, self.layout(title, body, canonical=prefix if page == 1 else None))

    def about(self) -> Response:
        body = self.templates.fill("about", site_name=escape(self.site.name))
        return self._html(200, self.layout("About us", body, canonical="/about/"))

    def article_page(self, a: DemoArticle) -> str:
        section = self.site.sections[a.section]
        paragraphs = list(a.paragraphs)
        if a.slug in self.updates:
            paragraphs.append(self.updates[a.slug])
        mid = max(1, len(paragraphs) // 2)
        related = self._related(a)
        comments = ""
        if a.comments:
            n = len(a.comments)
            items = "\n".join(
                self.templates.fill(
                    "comment", who=escape(who), what=escape(what), **self._fields(a)
                )
                for who, what in a.comments
            )
            count = f"{n} thought{'s' if n != 1 else ''}"
            comments = self.templates.fill(
                "comments", count=count, title=escape(a.title), items=items
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
        meta = [
            ("name", "description", a.summary),
            ("name", "author", a.author),
            ("property", "og:type", "article"),
            ("property", "og:title", a.title),
            ("property", "og:description", a.summary),
            ("property", "og:url", self.base + a.path),
            ("property", "og:site_name", self.site.name),
            ("property", "og:locale", a.lang),
            ("property", "article:published_time", a.published.isoformat()),
            ("property", "article:modified_time", modified.isoformat()),
            ("property", "article:section", section),
            *(("property", "article:tag", t) for t in a.tags),
        ]
        head = "\n".join(f'<meta {k}="{n}" content="{escape(v)}">' for k, n, v in meta)
        head += '\n<script type="application/ld+json">'
        head += json.dumps(jsonld, ensure_ascii=False).replace("</", "<\\/") + "</script>"
        body = self.templates.fill(
            "article",
            **self._fields(a),
            minutes=str(max(1, sum(len(p.split()) for p in paragraphs) // 200)),
            body_first="\n".join(f"    <p>{escape(p)}</p>" for p in paragraphs[:mid]),
            body_rest="\n".join(f"    <p>{escape(p)}</p>" for p in paragraphs[mid:]),
            inline_path=related[0].path,
            inline_title=escape(related[0].title),
            twitter=escape(self.site.twitter),
            tags=", ".join(f'<a href="/tag/{t}/" rel="tag">{escape(t)}</a>' for t in a.tags),
            related="\n".join(self.templates.fill("related", **self._fields(r)) for r in related),
            comments=comments,
        )
        return self.layout(a.title, body, head=head, canonical=a.path, lang=a.lang)

    def _fields(self, a: DemoArticle) -> dict[str, str]:
        return {
            "path": a.path,
            "title": escape(a.title),
            "author": escape(a.author),
            "summary": escape(a.summary),
            "section_key": a.section,
            "section": escape(self.site.sections[a.section]),
            "published_iso": a.published.isoformat(),
            "published_human": f"{a.published:%B} {a.published.day}, {a.published:%Y}",
        }

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
        return self.templates.fill(
            "layout",
            lang=lang,
            title=escape(title),
            site_name=escape(self.site.name),
            tagline=escape(self.site.tagline),
            canonical=canon,
            base=self.base,
            head=head,
            sections=sections,
            breaking_path=self.site.articles[0].path,
            breaking_title=escape(self.site.articles[0].title),
            main=main,
            latest=latest,
        )

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
