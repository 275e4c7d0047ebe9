"""Errata: where the paper's printed statement and a correct reading differ.

Data, not prose: one ``Erratum`` per place, each naming the test that demonstrates it
(``tests/bounds/test_errata.py`` unless stated). ``status`` is one of
``wrong`` (a false statement, the toolkit implements the correction),
``harmless`` (a false step or typo whose printed result still holds),
``gap`` (a missing assumption or case; the result needs it),
``ambiguous`` (two readings; the toolkit states which it implements).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Erratum:
    id: str
    where: str
    printed: str
    correct: str
    status: str
    test: str


ERRATA: tuple[Erratum, ...] = (
    Erratum(
        "E-A1-LIP",
        "Assumption 1",
        "|φ(x₁) − φ(x₂)| ≥ L|x₁ − x₂|",
        "|φ(x₁) − φ(x₂)| ≤ L|x₁ − x₂| (Lipschitz); ReLU breaks the printed inequality for x₁, x₂ < 0",
        "wrong",
        "test_e_a1_lipschitz_direction",
    ),
    Erratum(
        "E-L1-ISO",
        "Lemma 1 / Property 1",
        "K_s = maxᵢ‖Aᵢ‖₂; bound applied to trained weight matrices",
        "Vershynin's Thm 4.6.1 needs isotropic rows (E AᵢAᵢᵀ = I) and K = maxᵢ‖Aᵢ‖_ψ₂; for rows of "
        "variance σ² ≠ 1 the bound can fail for any fixed C_s (a tall σ = 3 column already breaks it). "
        "The toolkit evaluates the printed form and reports it beside ‖W‖₂ measured",
        "gap",
        "test_e_l1_isotropy_needed",
    ),
    Erratum(
        "E-P1-L3",
        "Property 1, proof",
        '"By Lemma 3 and Assumption 2"',
        "Lemma 1 (the singular-value bound); Lemma 3 is Latała's expected-norm bound",
        "harmless",
        "test_e_p1_is_lemma1",
    ),
    Erratum(
        "E-P1-N0",
        "Property 1 / Section 2.1",
        "λ = √N + C_sK_s²(√N + τ) with N = max{N⁽¹⁾..N⁽ᴹ⁾}",
        "W⁽¹⁾ has N⁽⁰⁾ columns and Lemma 1 gives √N⁽¹⁾ + C_sK_s²(√N⁽⁰⁾ + τ); when the input is wider "
        "than every layer (784 > w) the printed λ is smaller than Lemma 1's bound for layer 1",
        "gap",
        "test_e_p1_input_width",
    ),
    Erratum(
        "E-P2-EQ",
        "Property 2 and Lemma 1 text, proofs",
        "‖Ax‖₂ = s₁(A)‖x‖₂",
        "‖Ax‖₂ ≤ s₁(A)‖x‖₂ (equality only along the top right singular vector)",
        "harmless",
        "test_e_p2_norm_inequality",
    ),
    Erratum(
        "E-P2-BIAS",
        "Properties 2 and 5 (used by Theorems 3, 4)",
        "‖y∗⁽ᵐ⁾‖₂ ≤ (Lλ)ᵐ‖x‖₂ for the network of Section 2.1 (which has biases)",
        "holds for bias-free networks only; with biases rₘ = L(λ rₘ₋₁ + ‖b⁽ᵐ⁾‖₂) "
        "(``bounds.output_norm_bound_with_bias``)",
        "gap",
        "test_e_p2_bias_breaks_bound",
    ),
    Erratum(
        "E-L2",
        "Lemma 2",
        "E U₍ᵣ₎² = a²(r+1)r/((n+2)(n+1)) for U ~ U(−a, a)",
        "these are the moments for U(0, a) (the weight magnitudes the proofs use); U(−a, a) gives "
        "``order_statistic_moment_symmetric``",
        "wrong",
        "test_e_l2_symmetric_uniform",
    ),
    Erratum(
        "E-P2-PROB",
        "Property 2 and Theorems 3–4, probability steps",
        "P{‖y∗⁽ᵐ⁾‖₂ <= (Lλ)ᵐ‖x‖₂} = P{‖W∗⁽ᵏ⁾‖₂ <= λ ∀k} (conditioning on that event), and P{bound} = P{A}·P{B}",
        "≥, not =: given the norm event the bound holds surely, and it can hold outside it too (W = diag(3, 0.1), "
        "λ = 1, x = e₂: ‖Wx‖ = 0.1 <= λ‖x‖ although ‖W‖₂ = 3 > λ). The printed probabilities remain valid "
        "lower bounds",
        "harmless",
        "test_e_p2_probability_is_a_lower_bound",
    ),
    Erratum(
        "E-P3-D2",
        "Property 3, proof",
        "(Σ E b⁴)^¼ ≤ (D_w²·16C_w⁴)^¼ and D/(D+2) ≤ (2D)²/D² = 4",
        "D_w extracted entries give (D_w·16C_w⁴)^¼ = 2C_wD_w^¼ and D/(D+2) ≤ 1; the printed 6C_eC_w√D_w "
        "still follows (it is looser)",
        "harmless",
        "test_e_p3_latala_terms",
    ),
    Erratum(
        "E-P3-DET",
        "Properties 3 and 6",
        "P{‖ΔW‖₂ ≥ μ} ≤ 6C_eC_w√D_w/μ via Lemmas 2–3 (independent mean-zero entries)",
        "the extracted entries are chosen by a threshold (not independent), but a deterministic bound "
        "holds anyway: ‖ΔW‖₂ ≤ ‖ΔW‖_F ≤ C_w√D for D extracted weights, and ≤ q²C_w√D for D extracted "
        "q×q filters — so the expectation step holds for C_e ≥ 1/6 whatever the distribution",
        "gap",
        "test_e_p3_deterministic_bound",
    ),
    Erratum(
        "E-P4-L1",
        "Property 4, proof",
        "|Σᵢⱼ ω^{ui+vj} K_{s,t,i,j}| ≤ ‖K_{s,t}‖₂ = ‖F_{s,t}‖₂",
        "≤ Σᵢⱼ|F_{s,t,i,j}| (entrywise ℓ1) <= q^{3/2}‖F_{s,t}‖₂; an all-ones q×q filter gives q² at (u, v) = "
        "(0, 0) while ‖F‖₂ = q. Corrected bound C·q^{3/2}·λ: ``conv_weight_norm_bound_corrected`` beside the "
        "printed C²λ (``conv_weight_norm_bound``)",
        "wrong",
        "test_e_p4_fourier_entry_bound",
    ),
    Erratum(
        "E-P4-SUM",
        "Property 4, proof",
        "P{all cc' filters bounded} = Σ_{s,t} P{‖F_{s,t}‖₂ ≤ …}",
        "a product Π_{s,t} (independent filters), as the next line's (1 − 2e^{−τ²})^{cc'} is; the sum exceeds 1",
        "harmless",
        "test_e_p4_probability_product",
    ),
    Erratum(
        "E-P4-Q",
        "Properties 4–6, Theorem 4",
        'Q is "the maximum size of all filters" / "the maximum size q × q"',
        "Q is read as the filter side q (the proof applies Lemma 1 to q×q filters, giving √q)",
        "ambiguous",
        "test_e_p4_q_is_side",
    ),
    Erratum(
        "E-P6-Q4",
        "Property 6, proof",
        "E|Σᵢⱼ F_{s,t,i,j}|² <= 4q²C_w², then the bound is stated with 6q²",
        "the two constants contradict each other, and neither is the right order: |ΣF| <= q²C_w, and an "
        "all-C_w filter attains q⁴C_w² > 6q²C_w² for q >= 3 (the deterministic form uses q²C_w√D, "
        "``conv_weight_difference_deterministic_bound``)",
        "wrong",
        "test_e_p6_filter_sum_order",
    ),
    Erratum(
        "E-L3-CIRC",
        "Properties 5–6 (Lemma 3 applied to the conv ΔW)",
        "Latała's bound (Lemma 3) applied to the doubly-block-circulant ΔW",
        "Lemma 3 needs independent entries; the circulant matrix repeats every kernel entry n² times (a "
        "1×1×q×q kernel gives n² copies of each weight), so the lemma does not apply as stated",
        "gap",
        "test_e_l3_circulant_entries_repeat",
    ),
    Erratum(
        "E-T1-EXP",
        "Theorem 1",
        "‖x‖²(L²N)^m Π_{m=1}^M σ_w⁽ᵐ⁾² + …",
        "exponent M (the number of layers multiplied); the printed m is a free index and m < M is "
        "violated by a linear network, where the corrected form is an equality",
        "wrong",
        "test_e_t1_exponent",
    ),
    Erratum(
        "E-T1-N",
        "Theorem 1, proof",
        '"Similar for other layers": V(y⁽ᵐ⁾) ≤ L²N⁽ᵐ⁻¹⁾[…] (first step uses N⁽¹⁾ for layer 1)',
        "N⁽ᵐ⁾, the number of neurons summed in layer m; the N⁽ᵐ⁻¹⁾ reading fails when a layer is "
        "wider than the previous one",
        "wrong",
        "test_e_t1_neuron_count",
    ),
    Erratum(
        "E-T1-MOM",
        "Theorem 1, proof",
        "yᵢ = φ(zᵢ) ≤ L zᵢ, hence V(yᵢ) ≤ L²V(zᵢ); iterate with V(y⁽ᵐ⁻¹⁾) in place of ‖y⁽ᵐ⁻¹⁾‖²",
        "φ(z) ≤ Lz is false for z < 0, and the iteration must carry E‖y‖² (ReLU outputs have non-zero "
        "mean, E‖y‖² > V(y)); with E φ(z)² ≤ L²E z² the printed bound (exponent M) still holds",
        "harmless",
        "test_e_t1_second_moment",
    ),
    Erratum(
        "E-T1-MEAN",
        "Theorem 1 / Assumption 2",
        "weights i.i.d. sub-Gaussian (mean unstated)",
        "the bound needs mean-zero weights; with mean-shifted weights a linear network exceeds it",
        "gap",
        "test_e_t1_mean_zero_needed",
    ),
    Erratum(
        "E-T1-OUT",
        "Theorem 1; the L^m of Properties 2, 5 and Theorems 3, 4",
        "L² (resp. L) applied in every layer, the output layer included",
        "Section 2.1's output layer is linear: its factor is 1, not L. With L >= 1 the printed form is only "
        "looser; with L < 1 it is not a bound (φ = 0.5·tanh: Monte Carlo above the printed value). "
        "``bounds.variance_bound(..., output_lipschitz=1)`` is the reading for a linear output layer",
        "wrong",
        "test_e_t1_output_layer_is_linear",
    ),
    Erratum(
        "E-T2-LB",
        "Theorem 2, eq. (1)",
        "‖y⁽ᵐ⁾ − y∗⁽ᵐ⁾‖₂ ≥ G⁽ᵐ⁾ when extracting the largest weights",
        "not guaranteed. The broken step is y⁽ᵐ⁻¹⁾ ≤ y∗⁽ᵐ⁻¹⁾ ⇒ Wᵢy⁽ᵐ⁻¹⁾ ≤ Wᵢy∗⁽ᵐ⁻¹⁾, false when the "
        "remaining weights are negative — even when footnote 4's y⁽ᵐ⁻¹⁾ ≤ y∗⁽ᵐ⁻¹⁾ holds: W∗⁽¹⁾ = [5; 1], "
        "W∗⁽²⁾ = [1, −6], x = 1, ReLU, top-2 extraction gives y⁽¹⁾ = (0, 1) ≤ y∗⁽¹⁾ = (5, 1) and "
        "d⁽²⁾ = 0 < G⁽²⁾ = 5 (a two-neuron output layer gives d = 0 < G = 1 too). The toolkit reports the "
        "fraction of samples where it holds",
        "wrong",
        "test_e_t2_lower_bound_counterexample",
    ),
    Erratum(
        "E-T2-DIR",
        "Theorem 2, probability",
        '"G⁽ᵐ⁾ ≥ μ … with a probability at most N^{m−1}(D_wC_w)^m/μ" presented as a lower bound on G',
        "Markov bounds the upper tail: it says G is unlikely to be large, never that it is large; "
        "and G⁽¹⁾ = ‖φ(W⁽¹⁾x + b) − φ(W⁽¹⁾x + b)‖ = 0 for every network by definition (y∗⁽⁰⁾ = y⁽⁰⁾ = x), "
        "so the first step of the recursion bounds a zero",
        "wrong",
        "test_e_t2_first_layer_zero",
    ),
    Erratum(
        "E-T3-IND",
        "Theorems 3 and 4, probability",
        "P{both events} = P{‖ΔW‖ ≤ μ}·P{‖y∗⁽ᵐ⁻¹⁾‖ ≤ …}",
        "a product needs independence (per-layer extraction); a global threshold couples the layers. "
        "The union bound 1 − p_W − 2(m−1)e^{−τ²} is valid without it and never larger",
        "gap",
        "test_e_t3_union_never_larger",
    ),
    Erratum(
        "E-T4-GEQ",
        "Theorem 4, proof",
        "P{… ≤ G + η} = P{‖W − W∗‖ ≥ μ}·…",
        "the event needed is ‖W − W∗‖₂ ≤ μ (as in Theorem 3); when ‖ΔW‖₂ > μ the bound fails. The final "
        "printed probability is the one for the ≤ event, so the theorem stands (a slip in the proof)",
        "harmless",
        "test_e_t4_event_direction",
    ),
    Erratum(
        "E-T4-BN",
        "Theorems 3–4 / Section 4.2.2 vs Table 1 (bn-scale)",
        "d⁽ᵐ⁾ <= G⁽ᵐ⁾ + μL^mλ^{m−1}‖x‖₂ for a network W⁽ᵐ⁾, b⁽ᵐ⁾ whose extraction changes weights only; "
        "applied in Table 1 to BN networks locked by their scaling factors",
        "the model has no batch norm. Eval-mode BN folds into the conv (filters a·F, bias a·b + c, "
        "a = γ/√(σ²+ε)), so bn-scale locking (γ, β → 0) changes the folded *bias* too, and the bound "
        "needs a ‖Δb‖ term: d <= G + L(μ‖y∗⁽ᵐ⁻¹⁾‖₂ + ‖Δb‖₂). One neuron, x = 1, w = 1, γ = 1, β = 2 "
        "(mean 0, var 1): y* = 3, locked y = 0, μ = 1, so d = 3 > G + μ‖x‖ = 1. ``empirical.measure_net`` "
        "folds BN and carries the bias term",
        "gap",
        "test_e_t4_bn_scale_changes_the_bias",
    ),
    Erratum(
        "E-NOT-NORM",
        "Notations",
        "‖A‖ₙ = sup{Ax | ‖x‖ₙ ≤ 1}",
        "sup{‖Ax‖ₙ : ‖x‖ₙ ≤ 1}",
        "harmless",
        "test_e_notation_operator_norm",
    ),
)


def errata_rows() -> list[dict]:
    """The errata as a list of dicts (one per row), for tables and reports."""
    return [asdict(e) for e in ERRATA]


def errata_markdown() -> str:
    """The errata as a Markdown table."""
    head = "| id | where | printed | correct reading | status | test |\n|---|---|---|---|---|---|"
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    rows = [f"| {e.id} | {e.where} | {esc(e.printed)} | {esc(e.correct)} | {e.status} | `{e.test}` |" for e in ERRATA]
    return "\n".join([head, *rows])
