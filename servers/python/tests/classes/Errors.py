import flask
from seldon_core.flask_utils import SeldonMicroserviceException


class UserCustomException(Exception):
    """A user-defined exception as Seldon's docs show it, answered by the class's model_error_handler."""

    status_code = 404

    def __init__(self, message, application_error_code, http_status_code):
        Exception.__init__(self)
        self.message = message
        if http_status_code is not None:
            self.status_code = http_status_code
        self.application_error_code = application_error_code

    def to_dict(self):
        return {"status": {"status": 1, "info": self.message, "code": self.application_error_code, "reason": "USER_ERROR"}}


class Unhandled(Exception):
    status_code = 418


class Errors:
    model_error_handler = flask.Blueprint("error_handlers", __name__)

    @model_error_handler.app_errorhandler(UserCustomException)
    def handle_custom_error(error):
        response = flask.jsonify(error.to_dict())
        response.status_code = error.status_code
        return response

    def predict(self, X, names):
        first = X.ravel()[0] if X.size else 0
        if first == 1:
            raise UserCustomException("no such thing", 1404, 404)
        if first == 2:
            raise ValueError("bad value 2")
        if first == 4:
            raise SeldonMicroserviceException("teapot", status_code=418, reason="TEAPOT")
        if first == 5:
            raise Unhandled("has a status_code but no handler")
        return {"shape": list(X.shape)}
