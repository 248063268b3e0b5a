"""D-Bus adapters: the Manager and Transaction objects, polkit checks, signal throttling.

No logic lives here that a test could not reach through zfsyncd.tx or zfsyncd.ops."""
