"""SellerCollection: finds eBay sellers who resell Amazon best sellers."""

__version__ = "0.1.0"
