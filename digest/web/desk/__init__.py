"""The editor's desk under /desk: sign-in (signin.py, session.py), the week at a glance and its actions
(week.py, glance.py), a send as it goes (live.py) and the sends started from here (sends.py)."""
