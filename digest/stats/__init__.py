"""Stats: each edition's figures and subscriber growth, as numbers and as charts.

figures    pure figures first, then the queries that feed them
chart      one chart per metric (matplotlib, Agg; imported only when drawing)
"""
