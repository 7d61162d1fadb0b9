"""Documents: sections and steps rendered as LaTeX, Markdown and .tex; prose in English and Korean; notes sites;
the gradient-flow figure."""
