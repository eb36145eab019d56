"""cnnlib Studio: the router. Each page is a thin script in ``views/`` (not ``pages/``: Streamlit would also route that folder by itself, before st.navigation runs) that also runs alone.

Kept light on purpose (no TensorFlow import here or on Home), so the app opens fast; pages
that need a model import TensorFlow when they first run.
"""

import streamlit as st

from app.state import keep_widget_state
from app.warmup import start_background_imports

st.set_page_config(page_title="cnnlib Studio", page_icon="🧠", layout="wide")
keep_widget_state()

pages = [
    st.Page("views/home.py", title="Home", icon="🏠", default=True),
    st.Page("views/data.py", title="Data", icon="🗂️"),
    st.Page("views/train.py", title="Train", icon="🏋️"),
    st.Page("views/evaluate.py", title="Evaluate", icon="📊"),
    st.Page("views/explain.py", title="Explain", icon="🔍"),
    st.Page("views/classify.py", title="Classify", icon="📷"),
    st.Page("views/compare.py", title="Compare", icon="⚖️"),
]
st.navigation(pages).run()
start_background_imports()  # after the page is drawn, so Home never waits for TensorFlow
