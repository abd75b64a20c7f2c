from django.urls import path

from editor.views import auth, edits, files, projects, share, usage

urlpatterns = [
    path("", projects.home, name="home"),
    path("accounts/signup/", auth.signup, name="signup"),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("history/", edits.history, name="history"),
    path("account/", usage.account, name="account"),
    path("projects/new/", projects.project_new, name="project_new"),
    path("projects/import/", projects.project_import, name="project_import"),
    path("projects/<int:pk>/", projects.project_detail, name="project_detail"),
    path("projects/<int:pk>/rename/", projects.project_rename, name="project_rename"),
    path("projects/<int:pk>/delete/", projects.project_delete, name="project_delete"),
    path("projects/<int:pk>/star/", projects.project_star, name="project_star"),
    path("projects/<int:pk>/edits/", edits.edit_create, name="edit_create"),
    path("projects/<int:pk>/references/", projects.reference_add, name="reference_add"),
    path("projects/<int:pk>/references/frame/", projects.reference_from_frame, name="reference_from_frame"),
    path("edits/<int:pk>/status/", edits.edit_status, name="edit_status"),
    path("edits/<int:pk>/cancel/", edits.edit_cancel, name="edit_cancel"),
    path("edits/<int:pk>/rerun/", edits.edit_rerun, name="edit_rerun"),
    path("edits/<int:pk>/submit-again/", edits.edit_submit_again, name="edit_submit_again"),
    path("edits/<int:pk>/check-again/", edits.edit_check_again, name="edit_check_again"),
    path("projects/<int:pk>/estimate/", edits.edit_estimate, name="edit_estimate"),
    path("edits/<int:pk>/delete/", edits.edit_delete, name="edit_delete"),
    path("edits/<int:pk>/compare/", edits.compare, name="compare"),
    path("edits/<int:pk>/share/", share.share_create, name="share_create"),
    path("share-links/<int:pk>/revoke/", share.share_revoke, name="share_revoke"),
    path("media/clips/<int:pk>/<str:kind>/", files.clip_media, name="clip_media"),
    path("media/references/<int:pk>/", files.reference_media, name="reference_media"),
    path("s/<str:token>/", share.share_page, name="share_page"),
    path("s/<str:token>/<str:kind>/", share.share_media, name="share_media"),
]
