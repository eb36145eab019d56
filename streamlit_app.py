"""cnnlib Studio: the router. Each page is a thin script in ``pages/`` that also runs alone.

Kept light on purpose (no TensorFlow import here or on Home), so the app opens fast; pages
that need a model import TensorFlow when they first run.
"""

import streamlit as st

from app.state import keep_widget_state
from app.warmup import start_background_imports

st.set_page_config(page_title="cnnlib Studio", page_icon="🧠", layout="wide")
keep_widget_state()

pages = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/data.py", title="Data", icon="🗂️"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/evaluate.py", title="Evaluate", icon="📊"),
    st.Page("pages/explain.py", title="Explain", icon="🔍"),
    st.Page("pages/classify.py", title="Classify", icon="📷"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️"),
]
st.navigation(pages).run()
start_background_imports()  # after the page is drawn, so Home never waits for TensorFlow
