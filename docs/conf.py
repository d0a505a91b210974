"""Sphinx configuration of the course site: executed
notebooks rendered as they are (never re-executed)."""

project = "Transfer learning as a powerful baseline"
author = "the transfer-learning notebooks team"
extensions = ["myst_nb", "sphinx_togglebutton"]
nb_execution_mode = "off"  # the site shows the run it was built from
nb_merge_streams = True
myst_enable_extensions = ["dollarmath"]
html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {"show_toc_level": 2, "use_download_button": True, "home_page_in_toc": True}
html_static_path: list[str] = []
# copied beside this file by helpers.report.site (browsers ask for one)
html_favicon = "favicon.png"
# the theme's colour mode; left empty, its script logs an error
html_context = {"default_mode": "light"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]
