"""The Scrapy project: config-driven news spider, discovery, WARC archiving, crawl runner."""
