# Expected values for tests/lib/test_survey.py, computed by R's `survey` package on the `api` data
# that ships with it (California Academic Performance Index schools, 1999–2000).
#
#   Rscript make_fixtures.R OUTDIR
#
# writes to OUTDIR:
#   apistrat.csv, apiclus1.csv  the data used (with 50 subsample-bootstrap replicate weights bsw1..bsw50
#                               generated here with a fixed seed), every number printed with 17
#                               significant digits, so that Python reads exactly the doubles R used;
#   expected.json               designs, estimates, standard errors, confidence intervals, raked weights
#                               and changes, also with 17 significant digits (written by hand: jsonlite
#                               is not needed).
# Every estimate is computed from the in-memory data frames that the CSV files print exactly.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript make_fixtures.R OUTDIR")
outdir <- args[[1]]
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

suppressPackageStartupMessages(library(survey))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
SEED <- 20240611L
B <- 50L
RAKE_CONTROL <- list(maxit = 100, epsilon = 1e-12)
options(survey.lonely.psu = "fail", survey.replicates.mse = FALSE)
data(api)

# ---- writing ------------------------------------------------------------------------------------

num <- function(x) ifelse(is.na(x), "", sprintf("%.17g", x))

write_csv <- function(df, path) {
  cols <- lapply(df, function(col) if (is.numeric(col)) num(col) else ifelse(is.na(col), "", as.character(col)))
  writeLines(c(paste(names(df), collapse = ","), do.call(paste, c(unname(cols), sep = ","))), path)
}

# A tiny JSON writer: named list -> object, unnamed list -> array, arr(x) -> array of numbers,
# length-1 character/numeric/logical -> scalar, NULL or NA -> null.
arr <- function(x) structure(as.numeric(x), class = "jarray")
json <- function(x, depth = 0) {
  pad <- strrep("  ", depth + 1)
  brk <- depth < 2
  join <- function(items, open, close) {
    if (!length(items)) return(paste0(open, close))
    if (brk) paste0(open, "\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", strrep("  ", depth), close)
    else paste0(open, paste(items, collapse = ", "), close)
  }
  if (is.null(x)) return("null")
  if (inherits(x, "jarray")) return(paste0("[", paste(ifelse(is.na(x), "null", sprintf("%.17g", unclass(x))), collapse = ", "), "]"))
  if (is.list(x)) {
    items <- lapply(x, json, depth = depth + 1)
    if (is.null(names(x))) return(join(unlist(items), "[", "]"))
    return(join(paste0('"', names(x), '": ', unlist(items)), "{", "}"))
  }
  stopifnot(length(x) == 1)
  if (is.na(x)) return("null")
  if (is.character(x)) return(paste0('"', x, '"'))
  if (is.logical(x)) return(if (x) "true" else "false")
  sprintf("%.17g", x)
}

# ---- data ---------------------------------------------------------------------------------------

yes <- function(f) as.numeric(f == "Yes")

make_data <- function(raw, design, name) {
  set.seed(SEED)
  replicated <- as.svrepdesign(design, type = "subbootstrap", replicates = B)
  bsw <- weights(replicated, "analysis") # combined: full weight times the resampling multiplier
  colnames(bsw) <- paste0("bsw", seq_len(B))
  df <- data.frame(
    cds = raw$cds, stype = as.character(raw$stype), dnum = raw$dnum,
    sch_wide = yes(raw$sch.wide), awards = yes(raw$awards), both = yes(raw$both),
    api00 = raw$api00, api99 = raw$api99, acs_k3 = raw$acs.k3, acs_46 = raw$acs.46,
    pw = raw$pw, stringsAsFactors = FALSE
  )
  df <- cbind(df, as.data.frame(bsw))
  write_csv(df, file.path(outdir, paste0(name, ".csv")))
  # Derived columns used by the formulas below (the Python tests derive them from the CSV).
  df$stype <- factor(df$stype, levels = c("E", "H", "M"))
  df$in_EM <- as.numeric(df$stype %in% c("E", "M"))
  df$acs46_28to30 <- ifelse(is.na(df$acs_46), NA, as.numeric(df$acs_46 %in% 28:30))
  df
}

strat <- make_data(apistrat, svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = apistrat), "apistrat")
clus1 <- make_data(apiclus1, svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1), "apiclus1")

# ---- designs ------------------------------------------------------------------------------------

boot <- function(df, mse) {
  svrepdesign(data = df, repweights = "^bsw[0-9]+$", weights = ~pw, type = "bootstrap",
              combined.weights = TRUE, mse = mse)
}
# Population totals from apipop (the population the samples were drawn from).
pop_stype <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
pop_schwide <- data.frame(sch_wide = c(0, 1), Freq = c(1072, 5122))
pop_awards <- data.frame(awards = c(0, 1), Freq = c(2027, 4167))
clus1_margins <- list(list(variable = "stype", totals = list(E = 4421, H = 755, M = 1018)),
                      list(variable = "sch_wide", totals = list("0" = 1072, "1" = 5122)))
strat_margins <- list(list(variable = "awards", totals = list("0" = 2027, "1" = 4167)),
                      list(variable = "sch_wide", totals = list("0" = 1072, "1" = 5122)))
rake_clus1 <- function(d) rake(d, list(~stype, ~sch_wide), list(pop_stype, pop_schwide), control = RAKE_CONTROL)
rake_strat <- function(d) rake(d, list(~awards, ~sch_wide), list(pop_awards, pop_schwide), control = RAKE_CONTROL)

lin_spec <- function(data, strata) list(data = data, type = "linearized", strata = strata)
rep_spec <- function(data, centre) list(data = data, type = "replicate", centre = centre, scale = 1 / (B - 1))
raked <- function(of, margins) list(rake_of = of, margins = margins)

designs <- list(
  strat_lin = list(svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = strat), lin_spec("apistrat.csv", "stype")),
  strat_lin_nostrata = list(svydesign(ids = ~1, weights = ~pw, data = strat), lin_spec("apistrat.csv", NULL)),
  strat_boot = list(boot(strat, FALSE), rep_spec("apistrat.csv", "replicate_mean")),
  strat_boot_mse = list(boot(strat, TRUE), rep_spec("apistrat.csv", "full_sample")),
  clus1_lin = list(svydesign(ids = ~1, weights = ~pw, data = clus1), lin_spec("apiclus1.csv", NULL)),
  clus1_boot = list(boot(clus1, FALSE), rep_spec("apiclus1.csv", "replicate_mean")),
  clus1_boot_mse = list(boot(clus1, TRUE), rep_spec("apiclus1.csv", "full_sample"))
)
for (nm in c("strat_lin", "strat_boot", "strat_boot_mse")) {
  designs[[paste0(nm, "_raked")]] <- list(rake_strat(designs[[nm]][[1]]), raked(nm, strat_margins))
}
for (nm in c("clus1_lin", "clus1_boot")) {
  designs[[paste0(nm, "_raked")]] <- list(rake_clus1(designs[[nm]][[1]]), raked(nm, clus1_margins))
}
for (nm in names(designs)) {
  d <- designs[[nm]][[1]]
  if (inherits(d, "svyrep.design")) stopifnot(isTRUE(all.equal(d$scale, 1 / (B - 1))), all(d$rscales == 1))
}

# ---- estimates ----------------------------------------------------------------------------------

full_weights <- function(d) if (inherits(d, "svyrep.design")) weights(d, "sampling") else weights(d)
spec <- function(formula, variable, categories = NULL) list(formula = formula, variable = variable, categories = categories)
specs <- list(
  api00 = spec(~api00, "api00"),
  acs_k3 = spec(~acs_k3, "acs_k3"),                       # 103 of 200 missing in apistrat
  acs_46 = spec(~acs_46, "acs_46"),
  sch_wide = spec(~sch_wide, "sch_wide"),                 # 0/1: a proportion
  awards = spec(~awards, "awards"),
  both = spec(~both, "both"),
  stype = spec(~stype, "stype"),                          # a factor: one proportion per level
  stype_EM = spec(~in_EM, "stype", c("E", "M")),
  acs_46_28to30 = spec(~acs46_28to30, "acs_46", c(28, 29, 30))
)
domain_sets <- list(
  list(by = NULL, specs = names(specs)),
  list(by = ~stype, specs = c("api00", "acs_46", "sch_wide", "acs_46_28to30")),
  list(by = ~stype + awards, specs = c("api00", "acs_46", "acs_46_28to30"))
)

cell <- function(design_name, spec_name, variable, categories, domain, est, se, ci, mask, w) {
  list(design = design_name, spec = spec_name, variable = variable,
       categories = if (is.null(categories)) NULL else as.list(categories),
       domain = domain, estimate = unname(est), se = unname(se),
       ci_low = unname(ci[1]), ci_high = unname(ci[2]), n = sum(mask), weighted_n = sum(w[mask]))
}

cases <- list()
for (dn in names(designs)) {
  d <- designs[[dn]][[1]]
  df <- d$variables
  w <- full_weights(d)
  for (ds in domain_sets) {
    for (sn in ds$specs) {
      s <- specs[[sn]]
      valid <- !is.na(df[[all.vars(s$formula)]])
      if (is.null(ds$by)) {
        m <- svymean(s$formula, d, na.rm = TRUE)
        ci <- confint(m)
        for (k in seq_along(coef(m))) {
          cats <- if (sn == "stype") levels(df$stype)[k] else s$categories
          cases[[length(cases) + 1]] <- cell(dn, sn, s$variable, cats, NULL, coef(m)[k], SE(m)[k], ci[k, ], valid, w)
        }
      } else {
        byvars <- all.vars(ds$by)
        res <- tryCatch(svyby(s$formula, ds$by, d, svymean, na.rm = TRUE), error = function(e) {
          # A domain with no valid answer stops R ("All replicates contained NAs"): leave those rows
          # out first (same estimates for the other domains: the design keeps its strata sizes).
          svyby(s$formula, ds$by, d[valid, ], svymean, na.rm = TRUE)
        })
        ci <- confint(res)
        for (r in seq_len(nrow(res))) {
          dom <- lapply(byvars, function(v) { x <- res[[v]][r]; if (is.factor(x)) as.character(x) else x })
          names(dom) <- byvars
          inside <- Reduce(`&`, lapply(byvars, function(v) as.character(df[[v]]) == as.character(dom[[v]])))
          if (!any(inside & valid)) next # empty domain: R's answer is not an estimate (tested in Python)
          cases[[length(cases) + 1]] <- cell(dn, sn, s$variable, s$categories, dom, coef(res)[r], SE(res)[r],
                                             ci[r, ], inside & valid, w)
        }
      }
    }
  }
}

# ---- raking -------------------------------------------------------------------------------------

rakes <- list()
for (dn in names(designs)) {
  if (!grepl("_raked$", dn)) next
  d <- designs[[dn]][[1]]
  r <- list(weights = arr(full_weights(d)))
  if (inherits(d, "svyrep.design")) {
    rw <- weights(d, "analysis")
    r$replicates_1_to_3 <- list(arr(rw[, 1]), arr(rw[, 2]), arr(rw[, 3]))
    r$api00_replicate_means <- arr(svymean(~api00, d, return.replicates = TRUE)$replicates)
  }
  rakes[[dn]] <- r
}

# ---- change between two waves -------------------------------------------------------------------
# Two independent samples of the same population: wave 1 = apistrat (stratified by stype),
# wave 2 = apiclus1 (treated as one stratum). The SE of the difference is computed on a stacked
# design with the wave in the strata (svyby + svycontrast) and compared with sqrt(v1 + v2).

stack_waves <- function(y1, y2) {
  data.frame(
    wave = c(rep(1, nrow(strat)), rep(2, nrow(clus1))),
    stratum = c(paste0("w1", strat$stype), rep("w2", nrow(clus1))),
    stype = c(as.character(strat$stype), as.character(clus1$stype)),
    pw = c(strat$pw, clus1$pw), y = c(strat[[y1]], clus1[[y2]]), stringsAsFactors = FALSE
  )
}
changes <- list()
change_case <- function(id, y1, y2, domain_stype) {
  stacked <- stack_waves(y1, y2)
  st <- svydesign(ids = ~1, strata = ~stratum, weights = ~pw, data = stacked)
  # Domain (and, as svyby(covmat = TRUE) cannot take na.rm with missing values, valid answers)
  # by subsetting: the design keeps its strata sizes, so this is domain estimation.
  st <- subset(st, !is.na(y))
  if (!is.null(domain_stype)) st <- subset(st, stype == domain_stype)
  by <- svyby(~y, ~wave, st, svymean, na.rm = TRUE, covmat = TRUE)
  con <- svycontrast(by, c(-1, 1))
  ci <- confint(con)
  v1 <- SE(by)[1]^2
  v2 <- SE(by)[2]^2
  diff <- unname(coef(con))
  se <- unname(SE(con))
  z <- diff / se
  dom <- if (is.null(domain_stype)) NULL else list(stype = domain_stype)
  changes[[length(changes) + 1]] <<- list(
    id = id,
    before = list(design = "strat_lin", variable = y1, domain = dom, estimate = unname(coef(by)[1]), se = unname(SE(by)[1])),
    after = list(design = "clus1_lin", variable = y2, domain = dom, estimate = unname(coef(by)[2]), se = unname(SE(by)[2])),
    difference = diff, se = se, se_sqrt_sum = sqrt(v1 + v2), ci_low = ci[1, 1], ci_high = ci[1, 2],
    z = z, p_value = 2 * pnorm(-abs(z))
  )
}
change_case("api00_everyone", "api99", "api00", NULL)
change_case("awards_elementary", "awards", "awards", "E")
change_case("acs_46_middle", "acs_46", "acs_46", "M")

# ---- output -------------------------------------------------------------------------------------

out <- list(
  generated_by = "tests/lib/survey_fixtures/make_fixtures.R",
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  survey_version = as.character(packageVersion("survey")),
  seed = SEED, replicates = B, rake_control = list(maxit = RAKE_CONTROL$maxit, epsilon = RAKE_CONTROL$epsilon),
  qnorm_975 = qnorm(0.975),
  designs = lapply(designs, function(x) x[[2]]),
  cases = cases,
  rakes = rakes,
  changes = changes
)
writeLines(json(out), file.path(outdir, "expected.json"))
cat("wrote", length(cases), "cases,", length(rakes), "raked designs,", length(changes), "changes to", outdir, "\n")
