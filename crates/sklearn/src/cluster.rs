//! Centroid clustering: `KMeans` and `MiniBatchKMeans` (`predict` = nearest centre, `transform` = Euclidean
//! distance to every centre).

use oxserve_pickle::Object;

use crate::attrs;
use crate::math::check_input;
use crate::{Estimator, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["KMeans", "MiniBatchKMeans"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(KMeans::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
}

/// A fitted k-means model.
#[derive(Debug)]
struct KMeans {
    class: String,
    centers: Matrix,
}

impl KMeans {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let centers = attrs::matrix(obj, "cluster_centers_")?;
        if centers.rows() == 0 {
            return Err(SklearnError::bad_model(
                obj.class_name(),
                "no cluster centres",
            ));
        }
        Ok(KMeans {
            class: obj.class_name().to_string(),
            centers,
        })
    }

    fn squared_distances(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        check_input(x, Some(self.centers.cols()), &self.class, false)?;
        let k = self.centers.rows();
        let mut out = Matrix::zeros(x.rows(), k);
        for (xr, orow) in x.iter_rows().zip(out.data_mut().chunks_exact_mut(k)) {
            for (o, c) in orow.iter_mut().zip(self.centers.iter_rows()) {
                *o = xr.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum();
            }
        }
        Ok(out)
    }
}

impl Estimator for KMeans {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.centers.cols())
    }

    fn supports(&self, method: Method) -> bool {
        matches!(method, Method::Predict | Method::Transform)
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        let mut d = self.squared_distances(x)?;
        match method {
            // Cluster ids, first closest centre on ties.
            Method::Predict => Ok(Output::Column(
                d.iter_rows()
                    .map(|r| crate::math::argmin(r) as f64)
                    .collect(),
            )),
            Method::Transform => {
                d.data_mut().iter_mut().for_each(|v| *v = v.sqrt());
                Ok(Output::Matrix(d))
            }
            _ => Err(self.no_method(method)),
        }
    }
}
