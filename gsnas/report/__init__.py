"""Tables and figures of the book, computed from result CSVs (never from typed-in numbers), and the workflow's rule graph.

Our numbers come from ``results/<profile>/*.csv`` (read by ``gsnas.results.Results``); the paper's from
``gsnas.paper``, always in separate, labelled columns or panels. One module per part of the book:
``table`` (how a table reads), ``pruning`` (Table 1, Figure 1), ``nas`` (Tables 2 and 3, searches, cells,
the rule graph), ``discussion`` (the claims chapter), ``summary`` (the intro's reproduction summary),
``budget`` (the evaluation budget's learning curves), ``provenance`` (the line under every results figure and table: data, commits, rebuild commands).
"""
from ..claims import per_search  # noqa: F401 (the notebooks average evaluation seeds as the claims do)
from ..results import TABLES, Results  # noqa: F401
from .table import METHODS, Table, mean_std, n_range  # noqa: F401
from .pruning import (SPEED_FORMATS, accuracy_vs_pruned, figure1, mu_vs_sparsity, paper_table1,  # noqa: F401
                      pruning_speed, table1)
from .nas import (BENCH, REMOVAL_COLUMNS, REMOVAL_FORMATS, accuracy_vs_params, cell_grid, draw_cell,  # noqa: F401
                  gap_figure, gaps, group_norm_trajectories, removal_bench, removal_summary, rule_graph,
                  search_speed, searches, table2, table3, trajectories)
from .budget import GAIN, budget_table, budget_text, chosen_budget, learning_curve_figure, learning_curves  # noqa: F401
from .budget import profile_budget  # noqa: F401
from .discussion import claim_discussion, claims, forest, training_spread  # noqa: F401
from .provenance import Provenance, inventory  # noqa: F401
from .summary import summary_markdown, summary_numbers, time_spent  # noqa: F401
