"""A signed-in user's session: its cookie, its sealed form in the store, sign-in, refresh and sign-out."""
