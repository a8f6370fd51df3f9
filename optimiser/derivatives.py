"""Exact Jacobian and Hessian of the collocation NLP, assembled from one interval's.

Expanding the whole NLP to SX and differentiating it costs time and memory that grow with its
size (model v2, 20 889 variables: 16 s and a 410 MB graph; a robust problem builds one copy per
draw), and CasADi's MX differentiation through the mapped intervals colours the whole
Jacobian (0.3 s per evaluation). The intervals' equations enter the defects linearly, and
their decision inputs are a selection of the NLP's variables, so

    d defects / dx = Q + P * blockdiag(J_k) * S,
    Hessian of lambda' defects = S' * blockdiag(H_k) * S,

with constant P, Q, S and one interval's SX Jacobian J_k and Hessian H_k (of mu_k' outputs,
mu = P' lambda) mapped over every interval of every scenario. The rest of the NLP (objective,
budgets, limits, epigraph) is small and is expanded and differentiated by CasADi as before.
"""

from __future__ import annotations

import casadi as ca

from optimiser.transcription import Transcription


def _constant(expression, *symbols) -> ca.DM:
    """The value of an expression that does not depend on ``symbols`` (kept sparse)."""
    return ca.Function("constant", list(symbols), [expression])(
        *[ca.DM.zeros(s.sparsity()) for s in symbols])


def _block_diagonal(mapped, block: ca.Sparsity, count: int):
    """The horizontal concatenation of ``count`` blocks read as their block diagonal (the
    nonzeros are in the same order)."""
    return ca.sparsity_cast(mapped, ca.diagcat(*[ca.DM(block, 1.0)] * count).sparsity())


def nlp_derivatives(t: Transcription, x, p, f, g_rest) -> dict[str, ca.Function]:
    """nlpsol's ``jac_g`` and ``hess_lag`` for the NLP (x, p, f, g = (t.defects, g_rest))."""
    local, (Z, parameters, lengths) = t.local, t.local_inputs
    count = Z.shape[1]
    n_out, n_z = local.size1_out(0), local.size1_in(0)
    outputs = ca.MX.sym("outputs", n_out, count)
    linear = t.defects_from(outputs)
    P = _constant(ca.jacobian(linear, ca.vec(outputs)), x, p)
    Q = _constant(ca.jacobian(linear, x), x, p)
    S = _constant(ca.jacobian(ca.vec(Z), x), x, p)

    z, mu = ca.SX.sym("z", n_z), ca.SX.sym("mu", n_out)
    p_k, length = ca.SX.sym("p", local.sparsity_in(1)), ca.SX.sym("length")
    o = local(z, p_k, length)
    jacobian = ca.jacobian(o, z)
    hessian = ca.hessian(ca.dot(mu, o), z)[0]
    jacobian_map = ca.Function("interval_jacobian", [z, p_k, length], [jacobian]).map(count)
    hessian_map = ca.Function("interval_hessian", [z, p_k, length, mu], [hessian]).map(count)

    lam_f, lam_g = ca.MX.sym("lam_f"), ca.MX.sym("lam_g", linear.numel() + g_rest.numel())
    n_defects = linear.numel()
    blocks = _block_diagonal(jacobian_map(Z, parameters, lengths), jacobian.sparsity(), count)
    jac_defects = Q + ca.mtimes(P, ca.mtimes(blocks, S))
    weights = ca.reshape(ca.mtimes(P.T, lam_g[:n_defects]), n_out, count)
    curvature = _block_diagonal(hessian_map(Z, parameters, lengths, weights),
                                hessian.sparsity(), count)
    hess_defects = ca.mtimes(S.T, ca.mtimes(curvature, S))

    rest = ca.Function("rest", [x, p], [f, g_rest]).expand()
    xs, ps = ca.SX.sym("x", x.sparsity()), ca.SX.sym("p", p.sparsity())
    f_s, g_s = rest(xs, ps)
    lf, lg = ca.SX.sym("lam_f"), ca.SX.sym("lam_g", g_rest.numel())
    rest_jacobian = ca.Function("rest_jacobian", [xs, ps], [ca.jacobian(g_s, xs)])
    rest_hessian = ca.Function("rest_hessian", [xs, ps, lf, lg],
                               [ca.hessian(lf * f_s + ca.dot(lg, g_s), xs)[0]])
    g = ca.vertcat(t.defects, g_rest)
    return {
        "jac_g": ca.Function("nlp_jac_g", [x, p], [g, ca.vertcat(jac_defects,
                                                                 rest_jacobian(x, p))],
                             ["x", "p"], ["g", "jac_g_x"]),
        "hess_lag": ca.Function("nlp_hess_l", [x, p, lam_f, lam_g],
                                [ca.triu(hess_defects + rest_hessian(
                                    x, p, lam_f, lam_g[n_defects:]))],
                                ["x", "p", "lam_f", "lam_g"], ["hess_gamma_x_x"]),
    }
