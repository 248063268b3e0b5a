"""`python -m zfsyncd`: the daemon (zfsyncd.daemon)."""

from zfsyncd.daemon import main

main()
