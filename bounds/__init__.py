"""Closed forms of CoreLocker's Section 4 and Appendix A (pure functions, no I/O).

Properties 1–6, Lemmas 1–4, Theorems 1–4, the conv → doubly-block-circulant operator and its
FFT singular values, scalable spectral norms, SymPy forms and the errata table.
"""

from bounds.conv import circ as circ
from bounds.conv import conv_matrix as conv_matrix
from bounds.conv import conv_operator_norm as conv_operator_norm
from bounds.conv import conv_operator_norm_per_frequency_svd as conv_operator_norm_per_frequency_svd
from bounds.conv import conv_operator_norm_zero_padded_upper as conv_operator_norm_zero_padded_upper
from bounds.conv import conv_singular_values as conv_singular_values
from bounds.conv import frequency_matrices as frequency_matrices
from bounds.disparity import conv_lambda_theorem4 as conv_lambda_theorem4
from bounds.disparity import disparity_upper_bound as disparity_upper_bound
from bounds.disparity import eta as eta
from bounds.disparity import sandwich_upper as sandwich_upper
from bounds.disparity import theorem2_tail_bound as theorem2_tail_bound
from bounds.disparity import theorem3_probability as theorem3_probability
from bounds.disparity import theorem3_probability_union as theorem3_probability_union
from bounds.disparity import theorem4_probability as theorem4_probability
from bounds.disparity import theorem4_probability_union as theorem4_probability_union
from bounds.errata import ERRATA as ERRATA
from bounds.errata import Erratum as Erratum
from bounds.probability import is_vacuous as is_vacuous
from bounds.probability import lemma1_probability as lemma1_probability
from bounds.properties import conv_output_norm_bound as conv_output_norm_bound
from bounds.properties import conv_output_norm_probability as conv_output_norm_probability
from bounds.properties import conv_weight_difference_deterministic_bound as conv_weight_difference_deterministic_bound
from bounds.properties import conv_weight_difference_tail_bound as conv_weight_difference_tail_bound
from bounds.properties import output_norm_bound as output_norm_bound
from bounds.properties import output_norm_bound_with_bias as output_norm_bound_with_bias
from bounds.properties import output_norm_probability as output_norm_probability
from bounds.properties import weight_difference_deterministic_bound as weight_difference_deterministic_bound
from bounds.properties import weight_difference_expectation_bound as weight_difference_expectation_bound
from bounds.properties import weight_difference_tail_bound as weight_difference_tail_bound
from bounds.random_matrix import conv_K_s as conv_K_s
from bounds.random_matrix import conv_lambda as conv_lambda
from bounds.random_matrix import conv_weight_norm_bound as conv_weight_norm_bound
from bounds.random_matrix import conv_weight_norm_bound_corrected as conv_weight_norm_bound_corrected
from bounds.random_matrix import conv_weight_norm_deterministic as conv_weight_norm_deterministic
from bounds.random_matrix import conv_weight_norm_probability as conv_weight_norm_probability
from bounds.random_matrix import fc_lambda as fc_lambda
from bounds.random_matrix import latala_norm_bound as latala_norm_bound
from bounds.random_matrix import order_statistic_moment as order_statistic_moment
from bounds.random_matrix import order_statistic_moment_literal as order_statistic_moment_literal
from bounds.random_matrix import order_statistic_moment_symmetric as order_statistic_moment_symmetric
from bounds.random_matrix import subgaussian_singular_value_bound as subgaussian_singular_value_bound
from bounds.spectral import conv_operator_norm_zero_padded as conv_operator_norm_zero_padded
from bounds.spectral import spectral_norm as spectral_norm
from bounds.variance import second_moment_bounds as second_moment_bounds
from bounds.variance import variance_bound as variance_bound
from bounds.variance import variance_bound_literal as variance_bound_literal
from bounds.variance import variance_bound_proof_reading as variance_bound_proof_reading
