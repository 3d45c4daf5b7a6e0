app_name = "adminpanel"
urlpatterns: list = []
