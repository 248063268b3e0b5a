"""What the daemon and its clients share: the fixed names of the D-Bus API, the transaction
states and the shapes of the records the API returns. Pure data: nothing here imports the
engine, the store or the bus, so zfsyncctl can import it cheaply and every layer of the
daemon can name a polkit action or a state."""
