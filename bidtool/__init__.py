"""bidtool (投标文件制作工具): prepare, seal, upload and check bids offline, for bidders."""

__version__ = "0.1.0"
