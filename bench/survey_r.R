# R's survey package on the subset that bench/survey.py writes: the peer of belonging/lib/survey.py's
# estimate_table. Not a benchmark on its own (`make bench` runs bench/*.py only); bench/survey.py runs it as
#
#   Rscript bench/survey_r.R DIR ROWS REPLICATES INDICATORS DOMAINS IDIOM
#
# DIR holds raw float64 / int32 files in column-major order (exact, no text round trip): w.bin (ROWS full-sample
# weights), reps.bin (ROWS x REPLICATES combined bootstrap weights), values.bin (ROWS x INDICATORS, NaN = no
# answer) and domains.bin (ROWS x DOMAINS, 0/1). Reading them is not timed. The design is
# svrepdesign(type = "bootstrap", combined.weights = TRUE, mse = FALSE): scale 1/(B - 1), centred on the mean
# of the replicates, as ReplicateDesign(centre = "replicate_mean"). Each cell is the mean of one indicator in
# one domain with its missing answers left out (na.rm = TRUE). IDIOM picks how R is asked for the 240 cells:
#
#   ratio     svyratio(~I(y * d), ~I(v * d)) on the whole design, one call per cell, with y's missing answers
#             set to 0 and v = 1 where y was answered: R's domain estimate written as a ratio, no subsetting.
#   subset    the textbook idiom: svymean(~y, subset(design, d), na.rm = TRUE) per cell (each subset() and each
#             na.rm subset recomputes the design's degrees of freedom, a QR of the replicate weights).
#   svyby     svyby(~y, ~d, design, svymean, na.rm = TRUE) per cell (both levels of d are estimated).
#   totals    one svytotal() of all 480 columns (y * d and v * d) with return.replicates = TRUE, then the 240
#             ratios per replicate and svrVar() on each.
#
# Prints "R_VERSION ...", "R_TIMES design_s estimate_s estimate_user_s estimate_sys_s" and writes DIR/r_out.csv
# (domain, indicator, estimate, se; 1-based; 17 significant digits).

args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
n <- as.integer(args[2])
B <- as.integer(args[3])
K <- as.integer(args[4])
D <- as.integer(args[5])
idiom <- if (length(args) >= 6) args[6] else "ratio"

suppressPackageStartupMessages(library(survey))
cat("R_VERSION ", R.version$major, ".", R.version$minor, " survey ", as.character(packageVersion("survey")), "\n", sep = "")

read_raw <- function(name, what, count, size = NA_integer_) {
  con <- file(file.path(dir, name), "rb")
  on.exit(close(con))
  x <- readBin(con, what, count, size = size)
  if (length(x) != count) stop(sprintf("%s: read %d values, expected %d", name, length(x), count))
  x
}

w <- read_raw("w.bin", "double", n)
reps <- matrix(read_raw("reps.bin", "double", as.double(n) * B), nrow = n)
y <- matrix(read_raw("values.bin", "double", n * K), nrow = n)
dm <- matrix(read_raw("domains.bin", "integer", n * D, size = 4L), nrow = n) == 1L

df <- data.frame(w = w)
for (k in seq_len(K)) df[[paste0("y", k)]] <- y[, k]
for (j in seq_len(D)) df[[paste0("d", j)]] <- dm[, j]
if (idiom %in% c("ratio", "totals")) {
  # Cell columns for the no-subsetting idioms: numerator y*d (missing answers as 0), denominator v*d.
  for (k in seq_len(K)) {
    valid <- !is.na(y[, k])
    yk <- ifelse(valid, y[, k], 0)
    for (j in seq_len(D)) {
      df[[sprintf("n%d_%d", k, j)]] <- yk * dm[, j]
      df[[sprintf("v%d_%d", k, j)]] <- as.numeric(valid & dm[, j])
    }
  }
}
rm(y, dm)
invisible(gc())

design_time <- system.time(
  des <- svrepdesign(data = df, repweights = reps, weights = ~w, type = "bootstrap",
                     combined.weights = TRUE, mse = FALSE)
)
rm(reps)
invisible(gc())

est <- matrix(NA_real_, D, K)
se <- matrix(NA_real_, D, K)
yf <- lapply(seq_len(K), function(k) as.formula(paste0("~y", k)))
df_ <- lapply(seq_len(D), function(j) as.formula(paste0("~d", j)))
nf <- lapply(seq_len(K), function(k) lapply(seq_len(D), function(j) as.formula(sprintf("~n%d_%d", k, j))))
vf <- lapply(seq_len(K), function(k) lapply(seq_len(D), function(j) as.formula(sprintf("~v%d_%d", k, j))))

run <- function() {
  if (idiom == "ratio") {
    for (k in seq_len(K)) for (j in seq_len(D)) {
      m <- svyratio(nf[[k]][[j]], vf[[k]][[j]], des)
      est[j, k] <<- coef(m)
      se[j, k] <<- SE(m)
    }
  } else if (idiom == "subset") {
    for (j in seq_len(D)) {
      dj <- subset(des, des$variables[[paste0("d", j)]])
      for (k in seq_len(K)) {
        m <- svymean(yf[[k]], dj, na.rm = TRUE)
        est[j, k] <<- coef(m)
        se[j, k] <<- SE(m)
      }
    }
  } else if (idiom == "svyby") {
    for (j in seq_len(D)) for (k in seq_len(K)) {
      b <- svyby(yf[[k]], df_[[j]], des, svymean, na.rm = TRUE)
      row <- which(b[[paste0("d", j)]] == TRUE)
      est[j, k] <<- coef(b)[row]
      se[j, k] <<- SE(b)[row]
    }
  } else if (idiom == "totals") {
    cols <- c(sprintf("n%d_%d", rep(seq_len(K), each = D), rep(seq_len(D), K)),
              sprintf("v%d_%d", rep(seq_len(K), each = D), rep(seq_len(D), K)))
    tot <- svytotal(as.matrix(des$variables[, cols]), des, return.replicates = TRUE)
    cells <- K * D
    full <- coef(tot)
    ratios <- full[1:cells] / full[cells + 1:cells]
    reps_ratio <- tot$replicates[, 1:cells] / tot$replicates[, cells + 1:cells]
    for (c in seq_len(cells)) {
      v <- svrVar(reps_ratio[, c], des$scale, des$rscales, mse = des$mse, coef = ratios[c])
      k <- (c - 1) %/% D + 1
      j <- (c - 1) %% D + 1
      est[j, k] <<- ratios[c]
      se[j, k] <<- sqrt(as.numeric(v))
    }
  } else {
    stop(paste("unknown idiom", idiom))
  }
}

estimate_time <- system.time(run())
cat(sprintf("R_TIMES %.3f %.3f %.3f %.3f\n", design_time[["elapsed"]], estimate_time[["elapsed"]],
            estimate_time[["user.self"]], estimate_time[["sys.self"]]))
out <- data.frame(domain = rep(seq_len(D), K), indicator = rep(seq_len(K), each = D),
                  estimate = sprintf("%.17g", as.vector(est)), se = sprintf("%.17g", as.vector(se)))
write.csv(out, file.path(dir, "r_out.csv"), row.names = FALSE, quote = FALSE)
