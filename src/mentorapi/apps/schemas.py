from datetime import datetime

from pydantic import BaseModel


class AppRead(BaseModel):
    id: str
    name: str
    created_at: datetime
