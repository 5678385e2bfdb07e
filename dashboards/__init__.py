"""The Panel dashboard: data store (:mod:`.store`), views (:mod:`.views`), strings
(:mod:`.i18n`) and the app (:mod:`.app`, ``panel serve dashboards/app.py``)."""
